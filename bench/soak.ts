/**
 * `npm run soak`: a bounded soak of the real gateway in its own process.
 *
 *   1 000 /ws sockets: 50 drivers (one per session, each keeps a demo run streaming: it approves
 *   the permission request and starts the next run on `complete`) and 950 viewers subscribed to
 *   the sessions, dropping and rejoining at random (resuming from their last seq, or fresh);
 *   20 PTYs printing continuously, their viewers detaching and reattaching; for SOAK_SECONDS
 *   (default 60). Every viewer checks its stream: seqs strictly increasing and gapless from its
 *   subscribe point unless the ack said `gap: true`.
 *
 * Reports the gateway's RSS over time, frames delivered, gaps (must be 0 outside announced gaps)
 * and errors (must be 0); exits 1 otherwise. The whole run is bounded (SOAK_SECONDS + 150 s).
 *
 *   npm run soak                       SOAK_SECONDS=60 SOAK_SOCKETS=1000 SOAK_RUNS=50 SOAK_PTYS=20
 *   tsx bench/soak.ts --serve <dir>    (the gateway process; started by the soak itself)
 *   SOAK_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run soak    (profile the gateway)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import WebSocket from 'ws';

import { createWebSocketServer } from '../gateway/createWebSocketServer.js';
import { createDemoRuntime } from '../gateway/app/demoAgent.js';
import { createConsoleLogger } from '../gateway/logger.js';
import { openDatabase } from '../persistence/database.js';
import { createSqliteSessionStore } from '../persistence/sessionStore.js';

const TOKEN = 'soak-token';
const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const SOCKETS = Number(process.env.SOAK_SOCKETS ?? 1000);
const RUNS = Number(process.env.SOAK_RUNS ?? 50);
const PTYS = Number(process.env.SOAK_PTYS ?? 20);
/** Viewer drops (and rejoins) per second. */
const CHURN_PER_SECOND = Number(process.env.SOAK_CHURN ?? 20);
const SAMPLE_EVERY_MS = 5000;
const HARD_BOUND_MS = (SECONDS + 150) * 1000;

// ---------------------------------------------------------------- the gateway process

async function serve(dir: string): Promise<void> {
  const databasePath = join(dir, 'gateway.sqlite');
  const database = openDatabase(databasePath);
  const store = createSqliteSessionStore(database);
  const sessions = Array.from({ length: RUNS }, () => store.createSession({ provider: 'demo', projectPath: dir }).sessionId);
  const server = createServer((_request, response) => response.writeHead(404).end());
  const gateway = createWebSocketServer(server, {
    verifyClient: { authenticateWebSocket: (token) => (token === TOKEN ? { id: 'soak' } : null) },
    chat: { runtime: createDemoRuntime({ deltaIntervalMs: 50, permissionTimeoutMs: 60_000 }) },
    sessions: store,
    databasePath,
    shell: { allowedRoots: [dir] },
    limits: { maxPtysPerUser: PTYS + 8, maxPtysTotal: PTYS + 8 },
    logger: createConsoleLogger('warn'),
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`READY ${JSON.stringify({ port, sessions, pid: process.pid })}\n`);
  // The driver samples RSS itself; the JS heap is only visible from in here.
  setInterval(() => {
    const { heapUsed, external, arrayBuffers } = process.memoryUsage();
    process.stdout.write(`MEM ${JSON.stringify({ heapUsed, external, arrayBuffers })}\n`);
  }, 1000).unref();
  process.on('SIGTERM', () => {
    void gateway.close().then(() => {
      server.closeAllConnections();
      server.close();
      database.close();
      process.exit(0);
    });
  });
}

// ---------------------------------------------------------------- the soak driver

interface Counters {
  wsFrames: number;
  shellFrames: number;
  shellBytes: number;
  gaps: number;
  announcedGaps: number;
  errors: string[];
  runsCompleted: number;
  joins: number;
  drops: number;
  ptyReattaches: number;
}

const counters: Counters = {
  wsFrames: 0,
  shellFrames: 0,
  shellBytes: 0,
  gaps: 0,
  announcedGaps: 0,
  errors: [],
  runsCompleted: 0,
  joins: 0,
  drops: 0,
  ptyReattaches: 0,
};

/** Set before SIGTERM: the 1001 closes that follow are expected. */
let shuttingDown = false;

const error = (text: string) => {
  if (counters.errors.length < 50) counters.errors.push(text);
  else counters.errors.length++;
};

/** A connection that has not opened after this counts as an error (the gateway is not keeping up). */
const OPEN_TIMEOUT_MS = 20_000;

function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no open within ${OPEN_TIMEOUT_MS} ms`));
    }, OPEN_TIMEOUT_MS);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * The protocol's replay rule: where a subscriber's stream starts after its ack, or `'run'` for a
 * fresh subscriber of a running session, whose replay starts at that run's first seq (which the
 * ack does not name): its first frame must then belong to the ack's run.
 */
function firstSeqAfterAck(ack: Record<string, unknown>, lastSeq: number): number | 'run' {
  const latest = Number(ack.lastSeq);
  if (lastSeq > 0) return Math.min(lastSeq, latest) + 1;
  return ack.isProcessing === true ? 'run' : latest + 1;
}

/** Sockets this driver closed on purpose: their close events are not errors. */
const closedOnPurpose = new WeakSet<WebSocket>();

class Viewer {
  ws: WebSocket | null = null;
  lastSeen = 0;
  private expected: number | null = null;
  /** Set for a fresh subscriber of a running session: its first frame must be of this run. */
  private replayedRun: string | null = null;

  constructor(readonly base: string, readonly sessionId: string) {}

  async join(resume: boolean): Promise<void> {
    const ws = await open(`${this.base}/ws?token=${TOKEN}`);
    this.ws = ws;
    this.expected = null;
    const lastSeq = resume ? this.lastSeen : 0;
    if (!resume) this.lastSeen = 0;
    ws.on('message', (data) => {
      counters.wsFrames++;
      // A dropped socket may still deliver what was in flight; only the current one is checked.
      if (this.ws !== ws) return;
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      if (frame.kind === 'chat_subscribed') {
        if (frame.gap === true) {
          counters.announcedGaps++;
          this.expected = null;
          return;
        }
        const first = firstSeqAfterAck(frame, lastSeq);
        this.expected = first === 'run' ? null : first;
        this.replayedRun = first === 'run' ? String(frame.runId) : null;
        return;
      }
      if (frame.kind === 'protocol_error') return error(`viewer got protocol_error ${String(frame.code)}`);
      if (typeof frame.seq !== 'number' || frame.sessionId !== this.sessionId) return;
      if (this.replayedRun !== null) {
        if (frame.runId !== this.replayedRun) error(`viewer of ${this.sessionId}: a fresh subscriber was replayed run ${String(frame.runId)}, not the running ${this.replayedRun}`);
        this.replayedRun = null;
      }
      if (this.expected === null) this.expected = frame.seq; // after an announced gap, or the running run's start
      if (frame.seq !== this.expected) {
        counters.gaps++;
        error(`viewer of ${this.sessionId}: seq ${frame.seq}, expected ${this.expected}`);
      }
      this.expected = frame.seq + 1;
      this.lastSeen = frame.seq;
    });
    ws.on('close', (code) => {
      if (!closedOnPurpose.has(ws) && !shuttingDown) error(`viewer socket closed unexpectedly (${code})`);
    });
    ws.on('error', (e) => {
      if (!closedOnPurpose.has(ws) && !shuttingDown) error(`viewer socket error ${e.message}`);
    });
    ws.send(JSON.stringify({ type: 'chat.subscribe', sessions: [{ sessionId: this.sessionId, lastSeq }] }));
    counters.joins++;
  }

  drop(): void {
    if (!this.ws) return;
    closedOnPurpose.add(this.ws);
    // Half the drops are abrupt (no closing handshake), half polite.
    if (Math.random() < 0.5) this.ws.terminate();
    else this.ws.close();
    this.ws = null;
    counters.drops++;
  }
}

class Driver {
  ws!: WebSocket;
  private closing = false;
  constructor(readonly base: string, readonly sessionId: string) {}

  async start(): Promise<void> {
    this.ws = await open(`${this.base}/ws?token=${TOKEN}`);
    this.ws.on('message', (data) => {
      counters.wsFrames++;
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      if (frame.kind === 'protocol_error') return error(`driver got protocol_error ${String(frame.code)}: ${String(frame.error)}`);
      if (frame.sessionId !== this.sessionId) return;
      if (frame.kind === 'permission_request') {
        this.ws.send(JSON.stringify({ type: 'chat.permission-response', requestId: frame.requestId, allow: true }));
      } else if (frame.kind === 'complete') {
        counters.runsCompleted++;
        if (frame.success !== true && !this.closing) error(`run ended without success: ${JSON.stringify(frame).slice(0, 200)}`);
        if (!this.closing) this.send();
      }
    });
    this.ws.on('close', (code) => {
      if (!this.closing && !shuttingDown) error(`driver socket closed (${code})`);
    });
    this.send();
  }

  send(): void {
    this.ws.send(JSON.stringify({ type: 'chat.send', sessionId: this.sessionId, content: `soak turn ${counters.runsCompleted}` }));
  }

  stop(): void {
    this.closing = true;
  }
}

class PtyViewer {
  ws: WebSocket | null = null;
  constructor(readonly base: string, readonly index: number, readonly dir: string) {}

  async attach(): Promise<void> {
    const ws = await open(`${this.base}/shell?token=${TOKEN}`);
    this.ws = ws;
    ws.on('message', (data) => {
      counters.shellFrames++;
      counters.shellBytes += (data as Buffer).length;
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      if (frame.type === 'error') error(`shell error: ${String(frame.message)}`);
    });
    ws.on('close', (code) => {
      if (!closedOnPurpose.has(ws) && !shuttingDown) error(`shell socket closed unexpectedly (${code})`);
    });
    ws.send(
      JSON.stringify({
        type: 'init',
        projectPath: this.dir,
        sessionId: `soak-pty-${this.index}`,
        isPlainShell: true,
        // 20 lines a second with builtins only (read -t on an empty FIFO is the pause): a fork per
        // line in 20 PTYs would starve the gateway of CPU on a 2-core machine.
        initialCommand: `f=$(mktemp -u); mkfifo "$f"; exec 3<>"$f"; rm "$f"; while :; do echo "pty ${this.index} tick $RANDOM $EPOCHREALTIME"; read -t 0.05 -u 3; done`,
        cols: 120,
        rows: 30,
      }),
    );
  }

  detach(): void {
    if (!this.ws) return;
    closedOnPurpose.add(this.ws);
    this.ws.close();
    this.ws = null;
  }
}

function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function sparkline(values: number[]): string {
  const bars = '▁▂▃▄▅▆▇█';
  const min = Math.min(...values);
  const max = Math.max(...values);
  return values.map((v) => bars[max === min ? 0 : Math.round(((v - min) / (max - min)) * (bars.length - 1))]).join('');
}

async function soak(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'ag-soak-'));
  const self = fileURLToPath(import.meta.url);
  const nodeArgs = (process.env.SOAK_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', self, '--serve', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let serverErr = '';
  child.stderr!.on('data', (chunk: Buffer) => (serverErr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let heapMiB = 0;
  const ready = await new Promise<{ port: number; sessions: string[]; pid: number }>((resolve, reject) => {
    let out = '';
    let started = false;
    const timer = setTimeout(() => reject(new Error(`the gateway did not start:\n${out}${serverErr}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('MEM ')) heapMiB = (JSON.parse(line.slice(4)) as { heapUsed: number }).heapUsed / 1048576;
        else if (line.startsWith('READY ') && !started) {
          started = true;
          clearTimeout(timer);
          resolve(JSON.parse(line.slice(6)) as { port: number; sessions: string[]; pid: number });
        }
      }
    });
  });
  const base = `ws://127.0.0.1:${ready.port}`;
  const hardStop = setTimeout(() => {
    console.error(`soak exceeded its bound of ${HARD_BOUND_MS / 1000} s`);
    child.kill('SIGKILL');
    process.exit(1);
  }, HARD_BOUND_MS);
  hardStop.unref();

  const samples: Array<{ t: number; rss: number; heap: number; sockets: number; frames: number; runs: number; cpu: number; driverCpu: number }> = [];
  const started = Date.now();
  let lastCpu = { at: Date.now(), gateway: cpuSeconds(ready.pid), driver: cpuSeconds(process.pid) };
  const sample = (sockets: number) => {
    const now = { at: Date.now(), gateway: cpuSeconds(ready.pid), driver: cpuSeconds(process.pid) };
    // The first sample has no interval to measure over.
    const wallSeconds = (now.at - lastCpu.at) / 1000;
    samples.push({
      t: Math.round((now.at - started) / 1000),
      rss: rssMiB(ready.pid),
      heap: heapMiB,
      sockets,
      frames: counters.wsFrames + counters.shellFrames,
      runs: counters.runsCompleted,
      cpu: wallSeconds < 0.5 ? 0 : (100 * (now.gateway - lastCpu.gateway)) / wallSeconds,
      driverCpu: wallSeconds < 0.5 ? 0 : (100 * (now.driver - lastCpu.driver)) / wallSeconds,
    });
    lastCpu = now;
  };
  sample(0);

  console.log(`gateway pid ${ready.pid} on port ${ready.port}; opening ${SOCKETS} /ws sockets, ${RUNS} streaming runs, ${PTYS} PTYs…`);
  const drivers = ready.sessions.map((sessionId) => new Driver(base, sessionId));
  await Promise.all(drivers.map((driver) => driver.start()));
  const viewers = Array.from({ length: Math.max(0, SOCKETS - drivers.length) }, (_, i) => new Viewer(base, ready.sessions[i % ready.sessions.length]));
  for (let i = 0; i < viewers.length; i += 100) {
    const joined = await Promise.allSettled(viewers.slice(i, i + 100).map((viewer) => viewer.join(false)));
    for (const result of joined) if (result.status === 'rejected') error(`join failed: ${String(result.reason)}`);
  }
  const ptys = Array.from({ length: PTYS }, (_, i) => new PtyViewer(base, i, dir));
  await Promise.all(ptys.map((pty) => pty.attach()));
  const openSockets = () => drivers.length + viewers.filter((v) => v.ws).length + ptys.filter((p) => p.ws).length;
  sample(openSockets());
  const phaseStart = Date.now();
  console.log(`all connected after ${((phaseStart - started) / 1000).toFixed(1)} s; soaking for ${SECONDS} s`);

  // Churn: viewers drop and rejoin (resuming or fresh), PTY viewers detach and reattach.
  let churning = true;
  const churn = setInterval(() => {
    if (!churning) return;
    for (let i = 0; i < CHURN_PER_SECOND / 10; i++) {
      const viewer = viewers[Math.floor(Math.random() * viewers.length)];
      if (!viewer.ws) continue;
      viewer.drop();
      setTimeout(() => {
        if (churning) viewer.join(Math.random() < 0.7).catch((e: Error) => error(`rejoin failed: ${e.message}`));
      }, 50 + Math.random() * 500);
    }
    if (Math.random() < 0.2) {
      const pty = ptys[Math.floor(Math.random() * ptys.length)];
      if (pty.ws) {
        pty.detach();
        counters.ptyReattaches++;
        setTimeout(() => {
          if (churning) pty.attach().catch((e: Error) => error(`pty reattach failed: ${e.message}`));
        }, 200);
      }
    }
  }, 100);
  const sampler = setInterval(() => {
    sample(openSockets());
    const last = samples.at(-1)!;
    console.log(
      `  t=${last.t}s rss=${last.rss.toFixed(0)} MiB heap=${last.heap.toFixed(0)} MiB cpu gateway ${last.cpu.toFixed(0)}% driver ${last.driverCpu.toFixed(0)}% ` +
        `sockets=${last.sockets} frames=${last.frames} runs=${last.runs} gaps=${counters.gaps} errors=${counters.errors.length}`,
    );
  }, SAMPLE_EVERY_MS);
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  churning = false;
  clearInterval(churn);
  clearInterval(sampler);
  sample(openSockets());

  // Drain: rejoin whoever is out, give streams a moment, then stop everything.
  const rejoined = await Promise.allSettled(viewers.filter((v) => !v.ws).map((v) => v.join(true)));
  for (const result of rejoined) if (result.status === 'rejected') error(`final rejoin failed: ${String(result.reason)}`);
  const churnDrops = counters.drops;
  const churnJoins = counters.joins - viewers.length;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  for (const driver of drivers) driver.stop();
  shuttingDown = true;
  const stopAt = Date.now();
  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000))]);
  const shutdownMs = Date.now() - stopAt;
  for (const viewer of viewers) viewer.drop();
  for (const pty of ptys) pty.detach();
  if (code !== 0) error(`gateway exited with ${String(code)} after SIGTERM`);
  const serverErrors = serverErr.split('\n').filter((line) => /ERROR|Error:|uncaught|unhandled/i.test(line));
  for (const line of serverErrors.slice(0, 10)) error(`gateway stderr: ${line}`);
  rmSync(dir, { recursive: true, force: true });

  const wall = (samples.at(-1)!.t - samples[1].t) || 1;
  console.log(`\n## Soak (${SECONDS} s, ${new Date().toISOString().slice(0, 10)})\n`);
  console.log(`${SOCKETS} /ws sockets (${drivers.length} drivers, ${viewers.length} viewers), ${RUNS} demo runs streaming, ${PTYS} PTYs; ` +
    `${churnDrops} viewer drops and ${churnJoins} rejoins (70 % resuming from their last seq), ${counters.ptyReattaches} PTY reattaches.\n`);
  console.log('| t (s) | gateway RSS (MiB) | JS heap (MiB) | gateway CPU | open sockets | frames delivered so far | runs completed |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of samples) console.log(`| ${s.t} | ${s.rss.toFixed(0)} | ${s.heap.toFixed(0)} | ${s.cpu.toFixed(0)} % | ${s.sockets} | ${s.frames} | ${s.runs} |`);
  console.log(`\nRSS ${sparkline(samples.slice(1).map((s) => s.rss))}  (${Math.min(...samples.slice(1).map((s) => s.rss)).toFixed(0)}–${Math.max(...samples.map((s) => s.rss)).toFixed(0)} MiB)\n`);
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| /ws frames delivered | ${counters.wsFrames} (${Math.round(counters.wsFrames / wall)}/s) |`);
  console.log(`| /shell output frames | ${counters.shellFrames} (${(counters.shellBytes / 1048576).toFixed(1)} MiB) |`);
  console.log(`| demo runs completed | ${counters.runsCompleted} |`);
  console.log(`| gaps outside announced gaps | ${counters.gaps} |`);
  console.log(`| announced gaps (ack gap: true) | ${counters.announcedGaps} |`);
  console.log(`| errors | ${counters.errors.length} |`);
  console.log(`| SIGTERM to exit | ${shutdownMs} ms, exit code ${String(code)} |`);
  if (counters.errors.length > 0) console.log(`\nerrors:\n${counters.errors.filter(Boolean).join('\n')}`);
  const ok = counters.gaps === 0 && counters.errors.length === 0;
  console.log(ok ? '\nsoak passed' : '\nsoak FAILED');
  return ok ? 0 : 1;
}

if (process.argv[2] === '--serve') {
  await serve(process.argv[3]);
} else {
  process.exit(await soak());
}
