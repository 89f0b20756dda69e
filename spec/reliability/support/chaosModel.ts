/**
 * Model-based chaos for /ws: fast-check commands interleave provider events, completes, throws,
 * resolves, aborts (that succeed, fail or hang), sends, subscribes with any lastSeq,
 * unsubscribes, abrupt disconnects, slow readers, bursts and gateway restarts over several
 * sessions and clients. The model predicts what PROTOCOL.md promises; every client checks its
 * own stream as frames arrive, and each interleaving ends with the durable log read back:
 *   - each client's seqs for a session strictly increase and, from its subscribe point, have
 *     no gap unless an ack said `gap: true`;
 *   - exactly one `complete` per run, in the log and per client;
 *   - nothing logged is lost across restarts (the log is 1..latest, byte-identical to what an
 *     always-connected observer received);
 *   - no session stays running once every runtime has settled.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import fc from 'fast-check';
import WebSocket from 'ws';

import { silentLogger } from '../../../gateway/logger.js';
import { openDatabase } from '../../../persistence/database.js';
import {
  createScriptedRuntime,
  startHarness,
  TOKEN,
  type Harness,
  type ScriptedRun,
  type ScriptedRuntime,
} from '../../support/chatHarness.js';
import { storedEvents } from '../../support/storedEvents.js';

export const SESSIONS = 3;
export const CLIENTS = 3;

/** Small water marks so a paused client really lags and is caught up from the log. */
export const CHAOS_LIMITS = {
  rateLimitPerSecond: 0,
  subscriberHighWaterMarkBytes: 16 * 1024,
  subscriberLowWaterMarkBytes: 4 * 1024,
  abortTimeoutMs: 50,
  maxEventsPerSession: 100_000,
  maxBytesPerSession: 512 * 1024 * 1024,
};

const SYNC_TIMEOUT_MS = 10_000;

// ---- the model ----

type SessionState = 'idle' | 'running' | 'locked';

interface RunModel {
  index: number;
  session: number;
  scripted: ScriptedRun;
  phase: 'running' | 'completed';
  settled: boolean;
  /** The seq its first event gets: a fresh subscriber's replay of the running run starts there. */
  firstSeq: number;
  /** The gateway generation the run belongs to; a restart kills every older run. */
  generation: number;
}

interface SessionModel {
  id: string;
  latest: number;
  state: SessionState;
  current: RunModel | null;
  /** The run whose failed abort locks the session. */
  lockedBy: RunModel | null;
}

export interface ChaosModel {
  sessions: SessionModel[];
  runs: RunModel[];
  clients: Array<{ connected: boolean; paused: boolean }>;
  generation: number;
}


// ---- a client that checks its own stream ----

interface Epoch {
  expectedNext: number;
  /** The socket was sent a frame of this epoch since its cursor was last placed (gateway/chat/fanout.ts). */
  sent: boolean;
  /** Set once the client unsubscribed: frames already in flight may still continue the epoch. */
  detached: boolean;
  completes: Set<string>;
}

interface AckExpectation {
  lastSeq: number;
  isProcessing: boolean;
  gap: boolean;
  firstSeq: number;
}

export class CheckingClient {
  readonly violations: string[] = [];
  readonly maxSeen = new Map<string, number>();
  readonly errors: string[] = [];
  /** Every sequenced frame's text, by session and seq (the observer's copy is compared with the log). */
  readonly texts = new Map<string, Map<number, string>>();
  frames = 0;
  private readonly epochs = new Map<string, Epoch>();
  private readonly acks = new Map<string, AckExpectation[]>();
  private readonly implicit = new Map<string, number>();
  private closedResolve: (() => void) | null = null;
  readonly closed: Promise<void>;
  private waiters = new Set<() => void>();

  private constructor(readonly name: string, readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => (this.closedResolve = resolve));
    ws.on('message', (data) => this.onFrame(data.toString()));
    ws.on('close', () => {
      this.closedResolve?.();
      this.wake();
    });
    ws.on('error', () => {});
  }

  static open(name: string, url: string): Promise<CheckingClient> {
    const ws = new WebSocket(`${url}/ws?token=${TOKEN}`, { perMessageDeflate: false });
    const client = new CheckingClient(name, ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  expectAck(sessionId: string, expectation: AckExpectation): void {
    const queue = this.acks.get(sessionId) ?? [];
    queue.push(expectation);
    this.acks.set(sessionId, queue);
  }

  /** chat.send attaches the sender without an ack: its next frame of the session starts here. */
  expectImplicitAttach(sessionId: string, firstSeq: number): void {
    const epoch = this.epochs.get(sessionId);
    if (epoch && !epoch.detached) return;
    this.implicit.set(sessionId, firstSeq);
  }

  detach(sessionId: string): void {
    const epoch = this.epochs.get(sessionId);
    if (epoch) epoch.detached = true;
  }

  isAttached(sessionId: string): boolean {
    const epoch = this.epochs.get(sessionId);
    return epoch !== undefined && !epoch.detached;
  }

  /** The next seq this client expects for an attached session. */
  nextFor(sessionId: string): number | null {
    const epoch = this.epochs.get(sessionId);
    return epoch && !epoch.detached ? epoch.expectedNext : null;
  }

  pendingAcks(): number {
    let n = 0;
    for (const queue of this.acks.values()) n += queue.length;
    return n;
  }

  waitFor(condition: () => boolean, what: string, timeoutMs = SYNC_TIMEOUT_MS): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: timed out waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private onFrame(text: string): void {
    this.frames++;
    const frame = JSON.parse(text) as Record<string, unknown>;
    const sessionId = String(frame.sessionId);
    if (frame.kind === 'protocol_error') {
      this.errors.push(`${String(frame.code)}:${sessionId}`);
    } else if (frame.kind === 'chat_subscribed') {
      const expectation = this.acks.get(sessionId)?.shift();
      if (!expectation) {
        this.violations.push(`${this.name}: unexpected chat_subscribed ${text}`);
      } else {
        if (frame.lastSeq !== expectation.lastSeq || frame.isProcessing !== expectation.isProcessing || frame.gap !== expectation.gap) {
          this.violations.push(`${this.name}: ack ${text} differs from ${JSON.stringify(expectation)}`);
        }
        this.implicit.delete(sessionId);
        // A socket still attached that was sent frames is never sent a seq twice nor an older one:
        // it continues where it was, or skips ahead to a replay that starts further along.
        const attached = this.epochs.get(sessionId);
        if (attached && !attached.detached && (!attached.sent || expectation.firstSeq > attached.expectedNext)) {
          attached.expectedNext = expectation.firstSeq;
          attached.sent = false;
        } else if (!attached || attached.detached) {
          this.epochs.set(sessionId, { expectedNext: expectation.firstSeq, sent: false, detached: false, completes: new Set() });
        }
      }
    } else if (typeof frame.seq === 'number') {
      this.onSequenced(sessionId, frame, text);
    }
    this.wake();
  }

  private onSequenced(sessionId: string, frame: Record<string, unknown>, text: string): void {
    const seq = frame.seq as number;
    let epoch = this.epochs.get(sessionId);
    const implicitStart = this.implicit.get(sessionId);
    if ((!epoch || epoch.detached) && implicitStart !== undefined) {
      epoch = { expectedNext: implicitStart, sent: false, detached: false, completes: new Set() };
      this.epochs.set(sessionId, epoch);
      this.implicit.delete(sessionId);
    }
    if (!epoch) {
      this.violations.push(`${this.name}: seq ${seq} of ${sessionId} without a subscription`);
      return;
    }
    if (seq !== epoch.expectedNext) {
      this.violations.push(`${this.name}: ${sessionId} seq ${seq}, expected ${epoch.expectedNext} (${seq < epoch.expectedNext ? 'duplicate or reorder' : 'gap'})`);
    }
    epoch.expectedNext = seq + 1;
    epoch.sent = true;
    if (frame.kind === 'complete') {
      const runId = String(frame.runId);
      if (epoch.completes.has(runId)) this.violations.push(`${this.name}: a second complete for run ${runId}`);
      epoch.completes.add(runId);
    }
    this.maxSeen.set(sessionId, Math.max(this.maxSeen.get(sessionId) ?? 0, seq));
    let bySeq = this.texts.get(sessionId);
    if (!bySeq) this.texts.set(sessionId, (bySeq = new Map()));
    bySeq.set(seq, text);
  }

  pause(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  resume(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.resume();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close();
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    await this.closed;
    clearTimeout(timer);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

// ---- the real system ----

export interface ChaosReal {
  dir: string;
  runtime: ScriptedRuntime;
  h: Harness;
  clients: Array<CheckingClient | null>;
  /** Subscribed to every session, always reading, reconnected after restarts. */
  observer: CheckingClient;
  /** Violations of clients that are gone. */
  retired: string[];
  stats: ChaosStats;
}

export interface ChaosStats {
  commands: Record<string, number>;
  restarts: number;
  framesChecked: number;
  /** Times a paused client's server-side buffer went over the high-water mark (the catch-up path ran). */
  lagEpisodes: number;
}

export function emptyStats(): ChaosStats {
  return { commands: {}, restarts: 0, framesChecked: 0, lagEpisodes: 0 };
}

/**
 * The ack a subscribe with `lastSeq` gets, and the seq its replay starts at: after `lastSeq` for a
 * client that saw part of the log; the running run's first seq for a fresh one (never an earlier
 * run); nothing otherwise. A socket already attached continues where it was (CheckingClient).
 */
function ackFor(session: SessionModel, lastSeq: number): AckExpectation {
  const running = session.state === 'running';
  let firstSeq = session.latest + 1;
  if (lastSeq > 0 && lastSeq < session.latest) firstSeq = lastSeq + 1;
  else if (lastSeq === 0 && running && session.current) firstSeq = Math.min(session.current.firstSeq, session.latest + 1);
  return { lastSeq: session.latest, isProcessing: running, gap: lastSeq > session.latest, firstSeq };
}

async function openObserver(real: ChaosReal, model: ChaosModel): Promise<CheckingClient> {
  const observer = await CheckingClient.open('observer', real.h.url);
  const entries = model.sessions.map((session) => {
    const lastSeq = real.observer?.maxSeen.get(session.id) ?? 0;
    return { session, lastSeq };
  });
  for (const { session, lastSeq } of entries) observer.expectAck(session.id, ackFor(session, lastSeq));
  observer.send({ type: 'chat.subscribe', sessions: entries.map(({ session, lastSeq }) => ({ sessionId: session.id, lastSeq })) });
  await observer.waitFor(() => observer.pendingAcks() === 0, 'observer acks');
  // The observer carries its history over, so the log can be compared with all it ever saw.
  if (real.observer) {
    for (const [sessionId, bySeq] of real.observer.texts) {
      const mine = observer.texts.get(sessionId) ?? new Map<number, string>();
      for (const [seq, text] of bySeq) if (!mine.has(seq)) mine.set(seq, text);
      observer.texts.set(sessionId, mine);
      observer.maxSeen.set(sessionId, Math.max(observer.maxSeen.get(sessionId) ?? 0, real.observer.maxSeen.get(sessionId) ?? 0));
    }
  }
  return observer;
}

/** Waits until the gateway agrees with the model: every session's state and seq, and the observer has it all. */
async function sync(model: ChaosModel, real: ChaosReal): Promise<void> {
  // Promise-settled runtimes and abort answers travel through a few ticks.
  const deadline = Date.now() + SYNC_TIMEOUT_MS;
  for (;;) {
    const sessions = real.h.gateway.listActors().chat as Array<{ sessionId: string; state: string; seq: number }>;
    const live = new Map(sessions.map((s) => [s.sessionId, s]));
    const agrees = model.sessions.every((session) => {
      const actual = live.get(session.id);
      const seq = actual?.seq ?? session.latest;
      const state = actual?.state ?? 'idle';
      return seq === session.latest && state === session.state && (real.observer.maxSeen.get(session.id) ?? 0) === session.latest;
    });
    if (agrees) break;
    if (Date.now() > deadline) {
      throw new Error(
        `gateway and model disagree: model ${JSON.stringify(model.sessions.map((s) => [s.state, s.latest]))}, ` +
          `gateway ${JSON.stringify(model.sessions.map((s) => [live.get(s.id)?.state, live.get(s.id)?.seq, real.observer.maxSeen.get(s.id) ?? 0]))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await new Promise((resolve) => setImmediate(resolve));
}

const ticks = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

// ---- commands ----

type Cmd = fc.AsyncCommand<ChaosModel, ChaosReal, true>;

const count = (real: ChaosReal, name: string) => (real.stats.commands[name] = (real.stats.commands[name] ?? 0) + 1);

class SendCommand implements Cmd {
  constructor(readonly client: number, readonly session: number) {}
  check = async (m: Readonly<ChaosModel>) => m.clients[this.client].connected && !m.clients[this.client].paused;
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, 'send');
    const client = r.clients[this.client]!;
    const session = m.sessions[this.session];
    if (session.state !== 'idle') {
      const before = client.errors.length;
      client.send({ type: 'chat.send', sessionId: session.id, content: 'again' });
      await client.waitFor(() => client.errors.length > before, 'RUN_IN_PROGRESS');
      if (client.errors[before] !== `RUN_IN_PROGRESS:${session.id}`) throw new Error(`expected RUN_IN_PROGRESS, got ${client.errors[before]}`);
      return;
    }
    client.expectImplicitAttach(session.id, session.latest + 1);
    client.send({ type: 'chat.send', sessionId: session.id, content: `run ${m.runs.length}` });
    const scripted = await r.runtime.nextRun();
    if (scripted.options.sessionId !== session.id) throw new Error(`run started for ${String(scripted.options.sessionId)}, not ${session.id}`);
    const run: RunModel = { index: m.runs.length, session: this.session, scripted, phase: 'running', settled: false, firstSeq: session.latest + 1, generation: m.generation };
    m.runs.push(run);
    session.current = run;
    session.state = 'running';
    await sync(m, r);
  }
  toString = () => `send(c${this.client}, s${this.session})`;
}

/** A provider event from the session's current run or an older run whose runtime still lives. */
/** The `pick`-th of the runs `eligible` admits, preferring the sessions' current runs. */
function chooseRun(m: ChaosModel, pick: number, eligible: (run: RunModel) => boolean): RunModel | null {
  const current = m.sessions.map((s) => s.current).filter((run): run is RunModel => run !== null && eligible(run));
  const others = m.runs.filter((run) => eligible(run) && !current.includes(run));
  const pool = pick % 3 === 0 && others.length > 0 ? others : current.length > 0 ? current : others;
  return pool.length > 0 ? pool[Math.floor(pick / 3) % pool.length] : null;
}

class EventCommand implements Cmd {
  private session = -1;
  constructor(readonly pick: number, readonly bytes: number, readonly count: number) {}
  check = async (m: Readonly<ChaosModel>) => m.runs.length > 0;
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, this.count > 1 ? 'burst' : 'event');
    const run = chooseRun(m, this.pick, () => true)!;
    this.session = run.session;
    const alive = run.generation === m.generation && !run.settled;
    const pad = 'x'.repeat(this.bytes);
    for (let i = 0; i < this.count; i++) run.scripted.writer.send({ kind: 'stream_delta', content: `${run.index}:${i}:${pad}` });
    // Events after a run's complete are still forwarded while its runtime lives; a dead run's are dropped.
    if (alive) m.sessions[this.session].latest += this.count;
    if (this.count > 1) {
      const hwm = r.h.gateway.limits.subscriberHighWaterMarkBytes;
      if ([...r.h.gateway.connectedClients].some((ws) => ws.bufferedAmount > hwm)) r.stats.lagEpisodes++;
    }
    await sync(m, r);
  }
  toString = () => `${this.count > 1 ? `burst×${this.count}` : 'event'}(pick ${this.pick} → s${this.session}, ${this.bytes}B)`;
}

class CompleteCommand implements Cmd {
  private session = -1;
  constructor(readonly pick: number) {}
  check = async (m: Readonly<ChaosModel>) => m.runs.some((run) => run.generation === m.generation && !run.settled);
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, 'complete');
    const run = chooseRun(m, this.pick, (candidate) => candidate.generation === m.generation && !candidate.settled)!;
    this.session = run.session;
    const session = m.sessions[run.session];
    run.scripted.writer.send({ kind: 'complete', exitCode: 0 });
    if (run.generation === m.generation && !run.settled && run.phase === 'running') {
      session.latest += 1;
      run.phase = 'completed';
      session.current = null;
      session.state = 'idle';
    }
    await sync(m, r);
  }
  toString = () => `complete(pick ${this.pick} → s${this.session})`;
}

/** The runtime's promise settles: resolves, or throws. */
class SettleCommand implements Cmd {
  private session = -1;
  constructor(readonly pick: number, readonly throws: boolean) {}
  check = async (m: Readonly<ChaosModel>) => m.runs.some((run) => !run.scripted.settled);
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, this.throws ? 'throw' : 'resolve');
    const run = chooseRun(m, this.pick, (candidate) => !candidate.scripted.settled)!;
    this.session = run.session;
    const session = m.sessions[run.session];
    if (this.throws) run.scripted.reject(new Error('runtime failure')); else run.scripted.resolve();
    if (run.generation === m.generation && !run.settled) {
      if (run.phase === 'running') {
        // Safety net: an error event for a throw, then the synthetic complete.
        session.latest += this.throws ? 2 : 1;
        run.phase = 'completed';
        session.current = null;
        session.state = 'idle';
      }
      if (session.lockedBy === run) {
        session.lockedBy = null;
        session.state = 'idle';
      }
      run.settled = true;
    }
    await ticks();
    await sync(m, r);
  }
  toString = () => `${this.throws ? 'throw' : 'resolve'}(pick ${this.pick} → s${this.session})`;
}

class AbortCommand implements Cmd {
  constructor(readonly client: number, readonly session: number, readonly answer: boolean | 'hang') {}
  check = async (m: Readonly<ChaosModel>) => m.clients[this.client].connected && !m.clients[this.client].paused;
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, `abort:${String(this.answer)}`);
    const client = r.clients[this.client]!;
    const session = m.sessions[this.session];
    if (session.state !== 'running') {
      const before = client.errors.length;
      client.send({ type: 'chat.abort', sessionId: session.id });
      await client.waitFor(() => client.errors.length > before, 'NO_ACTIVE_RUN');
      if (client.errors[before] !== `NO_ACTIVE_RUN:${session.id}`) throw new Error(`expected NO_ACTIVE_RUN, got ${client.errors[before]}`);
      return;
    }
    r.runtime.abortAnswer = this.answer;
    client.send({ type: 'chat.abort', sessionId: session.id });
    const run = session.current!;
    // One synthetic aborted complete; a failed (or unanswered) abort locks the session until the runtime settles.
    session.latest += 1;
    run.phase = 'completed';
    session.current = null;
    if (this.answer === true) session.state = 'idle';
    else {
      session.state = 'locked';
      session.lockedBy = run;
    }
    await sync(m, r);
  }
  toString = () => `abort(c${this.client}, s${this.session}, answer ${String(this.answer)})`;
}

class SubscribeCommand implements Cmd {
  constructor(readonly client: number, readonly session: number, readonly mode: 'resume' | 'zero' | 'random' | 'weird', readonly value: number) {}
  check = async (m: Readonly<ChaosModel>) => m.clients[this.client].connected && !m.clients[this.client].paused;
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, `subscribe:${this.mode}`);
    const client = r.clients[this.client]!;
    const session = m.sessions[this.session];
    let raw: unknown;
    switch (this.mode) {
      case 'resume':
        raw = client.maxSeen.get(session.id) ?? 0;
        break;
      case 'zero':
        raw = 0;
        break;
      case 'random':
        raw = this.value % (session.latest + 4);
        break;
      case 'weird':
        raw = [-3, '7', null, 2.5, 1e300][this.value % 5];
        break;
    }
    const lastSeq = typeof raw === 'number' && Number.isFinite(raw) ? Math.max(0, Math.floor(raw)) : 0;
    client.expectAck(session.id, ackFor(session, lastSeq));
    client.send({ type: 'chat.subscribe', sessions: [{ sessionId: session.id, lastSeq: raw }] });
    await client.waitFor(() => client.pendingAcks() === 0, 'the ack');
    await client.waitFor(() => (client.nextFor(session.id) ?? 0) > session.latest, 'the replay');
  }
  toString = () => `subscribe(c${this.client}, s${this.session}, ${this.mode}${this.mode === 'random' || this.mode === 'weird' ? ` ${this.value}` : ''})`;
}

class UnsubscribeCommand implements Cmd {
  constructor(readonly client: number, readonly session: number) {}
  check = async (m: Readonly<ChaosModel>) => m.clients[this.client].connected && !m.clients[this.client].paused;
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, 'unsubscribe');
    const client = r.clients[this.client]!;
    const session = m.sessions[this.session];
    client.send({ type: 'chat.unsubscribe', sessions: [session.id] });
    client.detach(session.id);
    // A round trip proves the unsubscribe was handled before the next command.
    const before = client.errors.length;
    client.send({ type: 'chat.abort', sessionId: 'sync-probe' });
    await client.waitFor(() => client.errors.length > before, 'the unsubscribe round trip');
  }
  toString = () => `unsubscribe(c${this.client}, s${this.session})`;
}

class DisconnectCommand implements Cmd {
  constructor(readonly client: number) {}
  check = async (m: Readonly<ChaosModel>) => m.clients[this.client].connected;
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, 'disconnect');
    const client = r.clients[this.client]!;
    client.terminate();
    await client.closed;
    r.retired.push(...client.violations);
    r.stats.framesChecked += client.frames;
    r.clients[this.client] = null;
    m.clients[this.client] = { connected: false, paused: false };
    // The gateway learns of it when the TCP connection ends.
    await waitForSockets(r, m);
  }
  toString = () => `disconnect(c${this.client})`;
}

class ConnectCommand implements Cmd {
  constructor(readonly client: number) {}
  check = async (m: Readonly<ChaosModel>) => !m.clients[this.client].connected;
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, 'connect');
    r.clients[this.client] = await CheckingClient.open(`c${this.client}`, r.h.url);
    m.clients[this.client] = { connected: true, paused: false };
  }
  toString = () => `connect(c${this.client})`;
}

class PauseCommand implements Cmd {
  constructor(readonly client: number, readonly pause: boolean) {}
  check = async (m: Readonly<ChaosModel>) => m.clients[this.client].connected && m.clients[this.client].paused !== this.pause;
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, this.pause ? 'slow-reader' : 'reader-resumes');
    const client = r.clients[this.client]!;
    if (this.pause) client.pause(); else client.resume();
    m.clients[this.client].paused = this.pause;
  }
  toString = () => `${this.pause ? 'pause' : 'resume'}(c${this.client})`;
}

/**
 * A slow reader falls behind for real: events stream into a session a paused client watches
 * until the gateway's send buffer for it passes the high-water mark (its live frames stop and it
 * is caught up from the log once it reads again), or up to LAG_BYTES.
 */
const LAG_BYTES = 16 * 1024 * 1024;
const LAG_EVENT_BYTES = 16 * 1024;

class LagCommand implements Cmd {
  private session = -1;
  constructor(readonly client: number, readonly pick: number) {}
  check = async (m: Readonly<ChaosModel>) =>
    m.clients[this.client].connected && m.runs.some((run) => run.generation === m.generation && !run.settled);
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, 'lag');
    const client = r.clients[this.client]!;
    client.pause();
    m.clients[this.client].paused = true;
    const alive = (run: RunModel) => run.generation === m.generation && !run.settled;
    const watched = m.runs.filter((run) => alive(run) && client.isAttached(m.sessions[run.session].id));
    const run = watched.length > 0 ? watched[this.pick % watched.length] : chooseRun(m, this.pick, alive)!;
    this.session = run.session;
    const hwm = r.h.gateway.limits.subscriberHighWaterMarkBytes;
    const pad = 'y'.repeat(LAG_EVENT_BYTES);
    let sent = 0;
    let lagged = false;
    while (sent < LAG_BYTES && !lagged) {
      for (let i = 0; i < 32; i++) run.scripted.writer.send({ kind: 'stream_delta', content: pad });
      m.sessions[run.session].latest += 32;
      sent += 32 * LAG_EVENT_BYTES;
      // Let the sockets write (and the kernel buffers fill) before looking again.
      await new Promise((resolve) => setImmediate(resolve));
      lagged = [...r.h.gateway.connectedClients].some((ws) => ws.bufferedAmount > hwm);
    }
    if (lagged) r.stats.lagEpisodes++;
    await sync(m, r);
  }
  toString = () => `lag(c${this.client}, pick ${this.pick} → s${this.session})`;
}

class RestartCommand implements Cmd {
  check = async () => true;
  async run(m: ChaosModel, r: ChaosReal) {
    count(r, 'restart');
    r.stats.restarts++;
    // close() aborts every running run; an abort that answers at once keeps the restart quick.
    r.runtime.abortAnswer = true;
    for (const client of r.clients) client?.resume();
    await r.h.stop();
    for (const session of m.sessions) {
      if (session.state === 'running') {
        session.latest += 1;
        if (session.current) session.current.phase = 'completed';
      }
      session.state = 'idle';
      session.current = null;
      session.lockedBy = null;
    }
    for (let i = 0; i < r.clients.length; i++) {
      const client = r.clients[i];
      if (client) {
        await client.closed;
        r.retired.push(...client.violations);
        r.stats.framesChecked += client.frames;
      }
      r.clients[i] = null;
      m.clients[i] = { connected: false, paused: false };
    }
    r.retired.push(...r.observer.violations);
    r.stats.framesChecked += r.observer.frames;
    m.generation += 1;
    r.h = await startHarness(r.runtime, { logger: silentLogger, limits: CHAOS_LIMITS }, r.dir);
    r.observer = await openObserver(r, m);
    await sync(m, r);
  }
  toString = () => 'restart';
}

async function waitForSockets(r: ChaosReal, m: ChaosModel): Promise<void> {
  const expected = m.clients.filter((c) => c.connected).length + 1;
  const deadline = Date.now() + SYNC_TIMEOUT_MS;
  while (r.h.gateway.connectedClients.size !== expected) {
    if (Date.now() > deadline) throw new Error(`the gateway still holds ${r.h.gateway.connectedClients.size} sockets, expected ${expected}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export function commandArbitraries(): Array<fc.Arbitrary<Cmd>> {
  const client = fc.nat(CLIENTS - 1);
  const session = fc.nat(SESSIONS - 1);
  const pick = fc.nat(30);
  const event = fc.tuple(pick, fc.integer({ min: 1, max: 400 })).map(([p, bytes]) => new EventCommand(p, bytes, 1));
  const send = fc.tuple(client, session).map(([c, s]) => new SendCommand(c, s));
  const subscribe = fc
    .tuple(client, session, fc.constantFrom<'resume' | 'zero' | 'random' | 'weird'>('resume', 'resume', 'zero', 'random', 'weird'), fc.nat(1000))
    .map(([c, s, mode, value]) => new SubscribeCommand(c, s, mode, value));
  // fast-check picks each entry equally often: repeats weight the common operations.
  return [
    event, event, event, event,
    send, send,
    subscribe, subscribe,
    fc.tuple(pick, fc.integer({ min: 20, max: 120 })).map(([p, n]) => new EventCommand(p, 8 * 1024, n)),
    pick.map((p) => new CompleteCommand(p)),
    fc.tuple(pick, fc.boolean()).map(([p, throws]) => new SettleCommand(p, throws)),
    fc.tuple(client, session, fc.constantFrom<boolean | 'hang'>(true, true, false, 'hang')).map(([c, s, answer]) => new AbortCommand(c, s, answer)),
    fc.tuple(client, session).map(([c, s]) => new UnsubscribeCommand(c, s)),
    client.map((c) => new DisconnectCommand(c)),
    client.map((c) => new ConnectCommand(c)),
    fc.tuple(client, fc.boolean()).map(([c, pause]) => new PauseCommand(c, pause)),
    fc.tuple(client, fc.boolean()).map(([c, pause]) => new PauseCommand(c, pause)),
    fc.tuple(client, pick).map(([c, p]) => new LagCommand(c, p)),
    fc.constant(new RestartCommand()),
  ];
}

// ---- one interleaving, start to verdict ----

export async function setUpChaos(stats: ChaosStats): Promise<{ model: ChaosModel; real: ChaosReal }> {
  const dir = mkdtempSync(join(tmpdir(), 'ag-chaos-'));
  const runtime = createScriptedRuntime();
  const h = await startHarness(runtime, { logger: silentLogger, limits: CHAOS_LIMITS }, dir);
  const model: ChaosModel = {
    sessions: Array.from({ length: SESSIONS }, () => ({ id: h.createSession(), latest: 0, state: 'idle' as const, current: null, lockedBy: null })),
    runs: [],
    clients: Array.from({ length: CLIENTS }, () => ({ connected: true, paused: false })),
    generation: 0,
  };
  const clients: Array<CheckingClient | null> = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(await CheckingClient.open(`c${i}`, h.url));
  const real = { dir, runtime, h, clients, observer: null as unknown as CheckingClient, retired: [], stats } satisfies ChaosReal;
  real.observer = await openObserver(real, model);
  return { model, real };
}

/**
 * Ends an interleaving: readers resume, every runtime settles, each client drains, the gateway
 * stops, and the durable log is read back and compared with the model and the observer.
 */
export async function verifyAndTearDown(model: ChaosModel, real: ChaosReal): Promise<string[]> {
  const violations: string[] = [];
  try {
    for (const client of real.clients) client?.resume();
    model.clients.forEach((c) => (c.paused = false));
    // Every runtime settles: no session may stay running or locked.
    for (const run of model.runs) {
      if (run.scripted.settled) continue;
      run.scripted.resolve();
      const session = model.sessions[run.session];
      if (run.generation === model.generation && !run.settled) {
        if (run.phase === 'running') {
          session.latest += 1;
          run.phase = 'completed';
          session.current = null;
          session.state = 'idle';
        }
        if (session.lockedBy === run) {
          session.lockedBy = null;
          session.state = 'idle';
        }
        run.settled = true;
      }
    }
    await ticks();
    await sync(model, real);
    if (real.h.gateway.chatRunRegistry.listRunningRuns().length !== 0) violations.push('a session is still running after every runtime settled');
    // Every attached client has everything up to the latest seq.
    for (const client of real.clients) {
      if (!client) continue;
      for (const session of model.sessions) {
        if (!client.isAttached(session.id)) continue;
        await client.waitFor(() => (client.nextFor(session.id) ?? 0) > session.latest, `${session.id} drained`).catch((error: Error) => {
          violations.push(error.message);
        });
      }
    }
    for (const client of [...real.clients, real.observer]) {
      if (!client) continue;
      real.stats.framesChecked += client.frames;
      violations.push(...client.violations);
      await client.close();
    }
    violations.push(...real.retired);
    await real.h.stop();
    violations.push(...checkLog(model, real));
  } finally {
    await real.h.stop().catch(() => {});
    rmSync(real.dir, { recursive: true, force: true });
  }
  return violations;
}

/** The log holds 1..latest per session, byte for byte what the observer saw, one complete per run, no run left running. */
function checkLog(model: ChaosModel, real: ChaosReal): string[] {
  const violations: string[] = [];
  const database = openDatabase(real.h.dbPath);
  try {
    const rows = storedEvents(database.sqlite);
    const completes = new Map<string, number>();
    for (const session of model.sessions) {
      const mine = rows.filter((row) => row.sessionId === session.id);
      const seqs = mine.map((row) => row.seq);
      const expected = Array.from({ length: session.latest }, (_, i) => i + 1);
      if (seqs.length !== expected.length || seqs.some((seq, i) => seq !== expected[i])) {
        violations.push(`log of ${session.id} holds seqs [${seqs.slice(0, 10).join(',')}…] (${seqs.length}), expected 1..${session.latest}`);
      }
      const seen = real.observer.texts.get(session.id) ?? new Map<number, string>();
      for (const row of mine) {
        if (row.kind === 'complete') completes.set(row.runId, (completes.get(row.runId) ?? 0) + 1);
        const text = seen.get(row.seq);
        if (text !== row.json) violations.push(`log row ${session.id}#${row.seq} differs from what clients received (${text === undefined ? 'never received' : 'different bytes'})`);
      }
    }
    const runIds = database.sqlite.prepare('SELECT run_id AS runId, status FROM runs').all() as Array<{ runId: string; status: string }>;
    if (runIds.length !== model.runs.length) violations.push(`${runIds.length} runs recorded, the model started ${model.runs.length}`);
    for (const run of runIds) {
      if (run.status !== 'completed') violations.push(`run ${run.runId} is left ${run.status}`);
      const n = completes.get(run.runId) ?? 0;
      if (n !== 1) violations.push(`run ${run.runId} has ${n} complete events in the log`);
    }
  } finally {
    database.close();
  }
  return violations;
}

export interface ChaosResult {
  interleavings: number;
  stats: ChaosStats;
  ms: number;
}

/** Runs `interleavings` random command sequences; throws with a shrunk counterexample on the first violation. */
export async function runChaos(options: { interleavings: number; seed: number; maxCommands: number }): Promise<ChaosResult> {
  const started = Date.now();
  const stats = emptyStats();
  let interleavings = 0;
  const property = fc.asyncProperty(fc.commands(commandArbitraries(), { maxCommands: options.maxCommands, size: 'max' }), async (commands) => {
    const { model, real } = await setUpChaos(stats);
    let failure: unknown = null;
    try {
      await fc.asyncModelRun(() => ({ model, real }), commands);
    } catch (error) {
      failure = error;
    }
    const violations = await verifyAndTearDown(model, real).catch((error: Error) => [`teardown failed: ${error.message}`]);
    interleavings++;
    if (failure) throw failure;
    if (violations.length > 0) throw new Error(`invariants violated:\n  ${violations.slice(0, 12).join('\n  ')}`);
  });
  const details = await fc.check(property, { seed: options.seed, numRuns: options.interleavings });
  if (details.failed) {
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(
      `chaos failed (seed ${details.seed}, path "${details.counterexamplePath}", shrunk ${details.numShrinks} times):\n` +
        `commands: ${details.counterexample ? String(details.counterexample[0]) : '?'}\n${error.slice(0, 4000)}`,
    );
  }
  return { interleavings, stats, ms: Date.now() - started };
}
