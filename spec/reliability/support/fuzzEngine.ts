/**
 * The fuzz drivers: one per route, each a fast-check property over batches of frames sent on a
 * fresh socket. After every batch a probe frame must be answered (no hang, socket still usable)
 * and everything the gateway said must match the oracle, frame for frame. A failing batch is
 * shrunk by fast-check and reported with its seed.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import path from 'node:path';

import fc from 'fast-check';
import WebSocket from 'ws';

import type { ScriptedRun, ScriptedRuntime } from '../../support/chatHarness.js';
import { TOKEN } from '../../support/chatHarness.js';
import { chatNearMissFrame, frameArbitrary, pluginFrame, shellNearMissFrame, type ChatFuzzIds, type WireFrame } from './fuzzFrames.js';
import {
  chatSignature,
  expectChat,
  type ChatSubscriptions,
  expectShell,
  isAllowedShellPath,
  shellFrameObject,
  shellSignature,
  transportOutcome,
  type ChatWorld,
  type Expectation,
} from './fuzzOracle.js';
import { ECHO_PLUGIN, waitUntil, type ReliabilityGateway } from './gateway.js';

export interface RouteFuzzStats {
  route: string;
  frames: number;
  batches: number;
  /** Closes the oracle predicted, by code. */
  closes: Record<string, number>;
  /** Frames the gateway sent back. */
  replies: number;
  ms: number;
}

export interface FuzzRunOptions {
  frames: number;
  seed: number;
  maxBatch?: number;
  /** How long one batch may take to be answered before it counts as a hang. */
  answerTimeoutMs?: number;
}

const DEFAULT_MAX_BATCH = 60;
const DEFAULT_ANSWER_TIMEOUT_MS = 15_000;
/** Runs per fc.assert call; several calls (seed, seed+1, …) reach the frame target. */
const RUNS_PER_ROUND = 200;

interface Probe<T> {
  ws: WebSocket;
  received: T[];
  closeCode: number | null;
  closed: Promise<number>;
}

function open<T>(url: string, parse: (data: WebSocket.RawData, isBinary: boolean) => T): Promise<Probe<T>> {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  const probe: Probe<T> = {
    ws,
    received: [],
    closeCode: null,
    closed: new Promise((resolve) => ws.once('close', (code) => resolve(code))),
  };
  ws.on('message', (data, isBinary) => probe.received.push(parse(data, isBinary)));
  ws.on('close', (code) => (probe.closeCode = code));
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(probe));
    ws.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused with ${response.statusCode}`)));
    ws.once('error', reject);
  });
}

/** The close code, or -1 after `timeoutMs`; the timer is cleared so it keeps nothing alive. */
async function closedWithin<T>(probe: Probe<T>, timeoutMs: number): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const code = await Promise.race([probe.closed, new Promise<number>((resolve) => (timer = setTimeout(() => resolve(-1), timeoutMs)))]);
  clearTimeout(timer);
  return code;
}

async function closeQuietly(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = new Promise((resolve) => ws.once('close', resolve));
  if (ws.readyState === WebSocket.OPEN) ws.close();
  const timer = setTimeout(() => ws.terminate(), 2000);
  await closed;
  clearTimeout(timer);
}

function sendFrame(ws: WebSocket, frame: WireFrame): void {
  ws.send(frame.data, { binary: frame.binary });
}

const describeFrame = (frame: WireFrame): string => {
  const shown = typeof frame.data === 'string' ? frame.data : `<${frame.data.length} bytes ${frame.data.subarray(0, 24).toString('hex')}>`;
  return `${frame.binary ? 'binary' : 'text'} ${shown.length > 300 ? `${shown.slice(0, 300)}… (${shown.length})` : shown}`;
};

/** Matches received signatures against required ones, letting optional ones appear anywhere. */
function matches(received: string[], expected: Array<{ signature: string; optional: boolean }>): boolean {
  let i = 0;
  for (const item of expected) {
    if (received[i] === item.signature) i++;
    else if (!item.optional) return false;
  }
  return i === received.length;
}

/** fast-check's own report prints whole counterexamples (megabytes, for deep or huge frames). */
function failureReport(details: fc.RunDetails<[WireFrame[]]>): string {
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  return `fuzz property failed (seed ${details.seed}, path "${details.counterexamplePath}", after ${details.numRuns} runs, shrunk ${details.numShrinks} times; ` +
    `replay with FUZZ_SEED=${details.seed}):\n${error.length > 6000 ? `${error.slice(0, 6000)}…` : error}`;
}

async function rounds(
  options: FuzzRunOptions,
  arbitrary: fc.Arbitrary<WireFrame[]>,
  batch: (frames: WireFrame[]) => Promise<number>,
): Promise<{ frames: number; batches: number }> {
  let frames = 0;
  let batches = 0;
  for (let round = 0; frames < options.frames; round++) {
    const runsLeft = Math.ceil((options.frames - frames) / ((options.maxBatch ?? DEFAULT_MAX_BATCH) / 2));
    const details = await fc.check(
      fc.asyncProperty(arbitrary, async (generated) => {
        frames += await batch(generated);
        batches += 1;
      }),
      { seed: options.seed + round, numRuns: Math.min(RUNS_PER_ROUND, Math.max(1, runsLeft)) },
    );
    if (details.failed) throw new Error(failureReport(details));
  }
  return { frames, batches };
}

// ---- /ws ----

export interface ChatFuzzContext {
  gw: ReliabilityGateway;
  runtime: ScriptedRuntime;
}

export const FUZZ_SESSION_POOL = Array.from({ length: 12 }, (_, i) => `fuzz-${i}`);

export async function fuzzChat(context: ChatFuzzContext, options: FuzzRunOptions): Promise<RouteFuzzStats> {
  const { gw, runtime } = context;
  const { h } = gw;
  const started = Date.now();
  const limits = h.gateway.limits;
  const real = h.createSession();
  const realRequestId = 'perm-real';
  // The real session: a run in progress with a few events and one pending approval.
  const starter = await open(`${h.url}/ws?token=${TOKEN}`, (data) => JSON.parse(data.toString()) as Record<string, unknown>);
  starter.ws.send(JSON.stringify({ type: 'chat.send', sessionId: real, content: 'fuzz' }));
  const run: ScriptedRun = await runtime.nextRun();
  for (let i = 0; i < 5; i++) run.writer.send({ kind: 'text', content: `event ${i}` });
  run.writer.send({ kind: 'permission_request', requestId: realRequestId, toolName: 'Bash', input: { command: 'ls' } });
  await closeQuietly(starter.ws);
  const latestOfReal = () => h.gateway.chatRunRegistry.listRunningRuns().find((r) => r.sessionId === real)?.lastSeq ?? -1;
  const world: ChatWorld = {
    real,
    realRequestId,
    realLatest: latestOfReal(),
    realPending: true,
    maxSubscriptions: limits.maxSubscriptionsPerSocket,
    maxSessionIdLength: limits.maxSessionIdLength,
  };
  const ids: ChatFuzzIds = { pool: FUZZ_SESSION_POOL, real, realRequestId };
  const closes: Record<string, number> = {};
  let replies = 0;
  let probeCounter = 0;
  const timeout = options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;

  const batch = async (frames: WireFrame[]): Promise<number> => {
    const client = await open(`${h.url}/ws?token=${TOKEN}`, (data) => JSON.parse(data.toString()) as Record<string, unknown>);
    const subscriptions: ChatSubscriptions = new Map();
    const expected: string[] = [];
    const resolutions: Array<NonNullable<Expectation['resolves']>> = [];
    // The scripted runtime records every decision; cleared per batch so the test double does not grow.
    runtime.approvals.length = 0;
    const approvalsBefore = 0;
    let sent = 0;
    let terminal: number | undefined;
    try {
      for (const frame of frames) {
        const expectation = expectChat(frame, world, subscriptions);
        sendFrame(client.ws, frame);
        sent++;
        expected.push(...expectation.replies);
        if (expectation.resolves) resolutions.push(expectation.resolves);
        if (expectation.terminal !== undefined) {
          terminal = expectation.terminal;
          break;
        }
      }
      const signatures = () => client.received.map(chatSignature);
      if (terminal !== undefined) {
        const code = await closedWithin(client, timeout);
        if (code !== terminal) throw new Error(`expected close ${terminal}, got ${code}`);
        closes[code] = (closes[code] ?? 0) + 1;
        // Answers to frames still in flight when the connection failed may be lost; nothing else may appear.
        const got = signatures();
        if (got.some((signature, i) => signature !== expected[i])) {
          throw new Error(`answers before close ${code} differ:\n got ${JSON.stringify(got.slice(0, 20))}\n want ${JSON.stringify(expected.slice(0, 20))}`);
        }
      } else {
        const probeId = `probe-${++probeCounter}`;
        client.ws.send(JSON.stringify({ type: 'chat.abort', sessionId: probeId }));
        expected.push(`err:NO_ACTIVE_RUN:${probeId}`);
        const probeSignature = expected[expected.length - 1];
        try {
          await waitUntil(() => signatures().includes(probeSignature) || client.closeCode !== null, 'the probe answer', timeout);
        } catch {
          throw new Error(`hang: the probe was not answered within ${timeout} ms (${client.received.length} frames received)`);
        }
        if (client.closeCode !== null) throw new Error(`the socket closed with ${client.closeCode}; the protocol keeps it open`);
        const got = signatures();
        if (got.length !== expected.length || got.some((signature, i) => signature !== expected[i])) {
          const at = got.findIndex((signature, i) => signature !== expected[i]);
          throw new Error(
            `answers differ at ${at} (got ${got.length}, want ${expected.length}):\n got  ${JSON.stringify(got.slice(Math.max(0, at - 2), at + 8))}\n want ${JSON.stringify(expected.slice(Math.max(0, at - 2), at + 8))}`,
          );
        }
        const approvals = runtime.approvals.slice(approvalsBefore);
        if (approvals.length !== resolutions.length || approvals.some((a, i) => a.requestId !== resolutions[i].requestId || a.decision.allow !== resolutions[i].allow)) {
          throw new Error(`permission decisions differ: got ${JSON.stringify(approvals.map((a) => [a.requestId, a.decision.allow]))}, want ${JSON.stringify(resolutions)}`);
        }
      }
      replies += client.received.length;
      return sent;
    } catch (error) {
      throw new Error(`${(error as Error).message}\nbatch:\n${frames.slice(0, sent).map(describeFrame).join('\n')}`);
    } finally {
      await closeQuietly(client.ws);
      // Re-arm the approval a batch resolved, and re-read the log's position either way.
      if (!world.realPending) {
        run.writer.send({ kind: 'permission_request', requestId: realRequestId, toolName: 'Bash', input: { command: 'ls' } });
        world.realPending = true;
        // A writer hands its messages to the session at the end of the microtask (one batch).
        await new Promise((resolve) => setImmediate(resolve));
      }
      world.realLatest = latestOfReal();
    }
  };

  const arbitrary = fc.array(frameArbitrary(chatNearMissFrame(ids)), { minLength: 1, maxLength: options.maxBatch ?? DEFAULT_MAX_BATCH, size: 'max' });
  const counted = await rounds(options, arbitrary, batch);
  run.resolve();
  return { route: '/ws', ...counted, closes, replies, ms: Date.now() - started };
}

// ---- /shell ----

/** The only commands a fuzzed init may start: nothing that reads input as shell code. */
const SAFE_COMMANDS = ['cat', 'sleep 1', 'printf "ready\\n"; cat', 'exit 3', 'head -c 300 /dev/zero | tr "\\0" x'];

export interface ShellFuzzLayout {
  valid: string[];
  invalid: string[];
}

/** A workspace with directories, a file and symlinks in and out, and a sibling that shares its prefix. */
export function prepareShellWorkspace(workspace: string): ShellFuzzLayout {
  const sub = path.join(workspace, 'sub');
  mkdirSync(sub, { recursive: true });
  writeFileSync(path.join(workspace, 'file.txt'), 'not a directory');
  const sibling = `${workspace}-evil`;
  mkdirSync(sibling, { recursive: true });
  const linkIn = path.join(workspace, 'link-in');
  const linkOut = path.join(workspace, 'link-out');
  try {
    symlinkSync(sub, linkIn);
    symlinkSync('/etc', linkOut);
  } catch {
    // Already there from an earlier run on the same dir.
  }
  return {
    valid: [workspace, sub, linkIn, `${sub}/../sub`, `${workspace}/./`],
    invalid: [
      `${workspace}/..`, `${sub}/../../..`, linkOut, `${linkOut}/ssl`, path.join(workspace, 'file.txt'), sibling,
      `${workspace}/missing`, '/nonexistent', '/', '/etc', '.', 'relative/dir', '~', `${workspace}\u0000x`, 'a'.repeat(5000),
    ],
  };
}

/** A frame that would start a PTY runs one of SAFE_COMMANDS, whatever else the fuzzer put in it. */
export function pinShellCommand(frame: WireFrame, workspace: string): WireFrame {
  if (transportOutcome(frame) !== null) return frame;
  const data = shellFrameObject(frame);
  if (!data || data.type !== 'init') return frame;
  const requested = typeof data.projectPath === 'string' && data.projectPath !== '' ? data.projectPath : process.cwd();
  if (!isAllowedShellPath(requested, workspace)) return frame;
  const digest = createHash('sha1').update(typeof frame.data === 'string' ? frame.data : frame.data).digest();
  const initialCommand = SAFE_COMMANDS[digest[0] % SAFE_COMMANDS.length];
  let pinned: string;
  try {
    pinned = JSON.stringify({ ...data, initialCommand });
  } catch {
    // Too deep to re-serialise: keep only what decides the spawn.
    pinned = JSON.stringify({ type: 'init', projectPath: requested, sessionId: typeof data.sessionId === 'string' ? data.sessionId : undefined, initialCommand });
  }
  return { data: frame.binary ? Buffer.from(pinned, 'utf8') : pinned, binary: frame.binary };
}

export async function fuzzShell(gw: ReliabilityGateway, options: FuzzRunOptions): Promise<RouteFuzzStats> {
  const started = Date.now();
  const layout = prepareShellWorkspace(gw.workspace);
  const closes: Record<string, number> = {};
  let replies = 0;
  let probeCounter = 0;
  const timeout = options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;

  const batch = async (generated: WireFrame[]): Promise<number> => {
    const client = await open(`${gw.h.url}/shell?token=${TOKEN}`, (data) => JSON.parse(data.toString()) as Record<string, unknown>);
    const expected: Array<{ signature: string; optional: boolean }> = [];
    const frames = generated.map((frame) => pinShellCommand(frame, gw.workspace));
    let sent = 0;
    let terminal: number | undefined;
    try {
      for (const frame of frames) {
        const expectation = expectShell(frame, gw.workspace);
        sendFrame(client.ws, frame);
        sent++;
        for (const signature of expectation.replies) expected.push({ signature, optional: false });
        for (const signature of expectation.optional ?? []) expected.push({ signature, optional: true });
        if (expectation.terminal !== undefined) {
          terminal = expectation.terminal;
          break;
        }
      }
      const signatures = () => client.received.map(shellSignature).filter((s): s is string => s !== null);
      if (terminal !== undefined) {
        const code = await closedWithin(client, timeout);
        if (code !== terminal) throw new Error(`expected close ${terminal}, got ${code}`);
        closes[code] = (closes[code] ?? 0) + 1;
      } else {
        const probePath = `/nonexistent/probe-${++probeCounter}`;
        client.ws.send(JSON.stringify({ type: 'init', projectPath: probePath }));
        expected.push({ signature: 'err:Invalid project path', optional: false });
        const required = expected.filter((e) => e.signature === 'err:Invalid project path').length;
        try {
          await waitUntil(
            () => signatures().filter((s) => s === 'err:Invalid project path').length >= required || client.closeCode !== null,
            'the probe answer',
            timeout,
          );
        } catch {
          throw new Error(`hang: the probe was not answered within ${timeout} ms`);
        }
        if (client.closeCode !== null) throw new Error(`the socket closed with ${client.closeCode}; the protocol keeps it open`);
        const got = signatures();
        if (!matches(got, expected)) {
          throw new Error(`answers differ:\n got  ${JSON.stringify(got)}\n want ${JSON.stringify(expected.map((e) => (e.optional ? `(${e.signature})` : e.signature)))}`);
        }
      }
      replies += client.received.length;
      return sent;
    } catch (error) {
      throw new Error(`${(error as Error).message}\nbatch:\n${frames.slice(0, sent).map(describeFrame).join('\n')}`);
    } finally {
      await closeQuietly(client.ws);
    }
  };

  const arbitrary = fc.array(frameArbitrary(shellNearMissFrame(layout)), { minLength: 1, maxLength: options.maxBatch ?? DEFAULT_MAX_BATCH, size: 'max' });
  const counted = await rounds(options, arbitrary, batch);
  return { route: '/shell', ...counted, closes, replies, ms: Date.now() - started };
}

// ---- /plugin-ws ----

interface Echo {
  data: Buffer;
  binary: boolean;
}

export async function fuzzPlugin(gw: ReliabilityGateway, options: FuzzRunOptions): Promise<RouteFuzzStats> {
  const started = Date.now();
  const closes: Record<string, number> = {};
  let replies = 0;
  let probeCounter = 0;
  const timeout = options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
  const asBytes = (frame: WireFrame) => (typeof frame.data === 'string' ? Buffer.from(frame.data, 'utf8') : frame.data);

  const batch = async (frames: WireFrame[]): Promise<number> => {
    const client = await open<Echo>(`${gw.h.url}/plugin-ws/${ECHO_PLUGIN}?token=${TOKEN}`, (data, binary) => ({ data: data as Buffer, binary }));
    const expected: Echo[] = [];
    let sent = 0;
    let terminal: number | undefined;
    try {
      // Wait for the upstream leg: the batch then tests relaying, not the pre-open queue's bound.
      const opening = `open-${++probeCounter}`;
      client.ws.send(opening);
      expected.push({ data: Buffer.from(opening), binary: false });
      await waitUntil(() => client.received.length >= 1 || client.closeCode !== null, 'the tunnel to open', timeout);
      for (const frame of frames) {
        sendFrame(client.ws, frame);
        sent++;
        const outcome = transportOutcome(frame);
        if (outcome !== null) {
          terminal = outcome;
          break;
        }
        expected.push({ data: asBytes(frame), binary: frame.binary });
      }
      const same = (a: Echo, b: Echo) => a.binary === b.binary && a.data.equals(b.data);
      if (terminal !== undefined) {
        const code = await closedWithin(client, timeout);
        if (code !== terminal) throw new Error(`expected close ${terminal}, got ${code}`);
        closes[code] = (closes[code] ?? 0) + 1;
        if (client.received.some((echo, i) => !expected[i] || !same(echo, expected[i]))) throw new Error('echoes before the close differ');
      } else {
        const probe = `probe-${probeCounter}`;
        client.ws.send(probe);
        expected.push({ data: Buffer.from(probe), binary: false });
        try {
          await waitUntil(() => client.received.length >= expected.length || client.closeCode !== null, 'every echo', timeout);
        } catch {
          throw new Error(`hang: ${client.received.length} of ${expected.length} echoes within ${timeout} ms`);
        }
        if (client.closeCode !== null) throw new Error(`the tunnel closed with ${client.closeCode}`);
        const at = expected.findIndex((echo, i) => !client.received[i] || !same(client.received[i], echo));
        if (at !== -1 || client.received.length !== expected.length) throw new Error(`echo ${at} differs (got ${client.received.length}, want ${expected.length})`);
      }
      replies += client.received.length;
      return sent;
    } catch (error) {
      throw new Error(`${(error as Error).message}\nbatch:\n${frames.slice(0, sent).map(describeFrame).join('\n')}`);
    } finally {
      await closeQuietly(client.ws);
    }
  };

  const arbitrary = fc.array(pluginFrame, { minLength: 1, maxLength: options.maxBatch ?? DEFAULT_MAX_BATCH, size: 'max' });
  const counted = await rounds(options, arbitrary, batch);
  return { route: '/plugin-ws', ...counted, closes, replies, ms: Date.now() - started };
}

// ---- raw bytes below the WebSocket framing ----

/** A frame header with arbitrary bits: RSV, opcodes, unmasked, 7/16/64-bit lengths, then arbitrary bytes. */
const craftedFrame = fc
  .tuple(
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 255 }),
    fc.uint8Array({ minLength: 0, maxLength: 8 }),
    fc.uint8Array({ maxLength: 512 }),
  )
  .map(([first, second, extended, payload]) => Buffer.concat([Buffer.from([first, second]), Buffer.from(extended), Buffer.from(payload)]));

const rawBytes = fc.oneof(craftedFrame, fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((bytes) => Buffer.from(bytes)));

export interface RawFuzzStats {
  connections: number;
  bytes: number;
  /** How the server ended each connection: `close:<code>` (a close frame), `end` (TCP closed), `open` (still open when we hung up). */
  outcomes: Record<string, number>;
  ms: number;
}

/**
 * Upgrades, then writes arbitrary bytes where WebSocket frames belong (or garbage instead of
 * an HTTP request), and hangs up. The server must end or keep each connection without failing.
 */
export async function fuzzRawSockets(port: number, paths: readonly string[], options: { connections: number; seed: number }): Promise<RawFuzzStats> {
  const started = Date.now();
  const outcomes: Record<string, number> = {};
  let bytesSent = 0;
  let connections = 0;
  const property = fc.asyncProperty(fc.constantFrom(...paths), fc.boolean(), fc.array(rawBytes, { minLength: 1, maxLength: 4 }), async (route, upgrade, chunks) => {
    const outcome = await new Promise<string>((resolve, reject) => {
      const socket = tcpConnect(port, '127.0.0.1');
      let buffer = Buffer.alloc(0);
      let upgraded = !upgrade;
      let result = 'open';
      const timer = setTimeout(() => {
        // Nothing more from the server: hang up ourselves, as a real client would.
        socket.end();
        setTimeout(() => socket.destroy(), 1000);
      }, 1500);
      socket.on('error', () => {});
      socket.on('connect', () => {
        if (upgrade) {
          socket.write(
            `GET ${route}?token=${TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
              'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
          );
        } else {
          for (const chunk of chunks) socket.write(chunk);
          bytesSent += chunks.reduce((n, c) => n + c.length, 0);
        }
      });
      socket.on('data', (chunk) => {
        buffer = Buffer.concat([buffer, chunk]);
        if (!upgraded) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end === -1) return;
          if (!buffer.subarray(0, 16).toString().includes(' 101 ')) {
            reject(new Error(`upgrade to ${route} refused: ${buffer.subarray(0, 40).toString()}`));
            socket.destroy();
            return;
          }
          upgraded = true;
          buffer = buffer.subarray(end + 4);
          for (const chunk of chunks) socket.write(chunk);
          bytesSent += chunks.reduce((n, c) => n + c.length, 0);
        }
        // The first server frame that is a close frame tells how it judged our bytes.
        if (upgrade && result === 'open' && buffer.length >= 4 && (buffer[0] & 0x0f) === 0x8) result = `close:${buffer.readUInt16BE(2)}`;
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(result === 'open' && upgraded ? 'end' : result);
      });
    });
    connections++;
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  });
  const details = await fc.check(property, { seed: options.seed, numRuns: options.connections });
  if (details.failed) {
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`raw socket fuzz failed (seed ${details.seed}, path "${details.counterexamplePath}"): ${error.slice(0, 3000)}`);
  }
  return { connections, bytes: bytesSent, outcomes, ms: Date.now() - started };
}
