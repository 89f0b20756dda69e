/**
 * The load generator process: every client socket of a benchmark lives here, apart from both
 * servers, and the same code drives the gateway and the bare relay.
 */
import { nowUs, sleep } from '../lib/clock.js';
import { serve } from '../lib/ipc.js';
import { spread, summarizeLatency, type LatencySummary } from '../lib/stats.js';
import { BENCH_TOKEN } from '../servers/relayApi.js';
import { ChatClientPool, type ChatProtocol, type ChatTarget } from './chatClients.js';
import { measureRestore, readShellStream, type RestoreResult, type ShellTarget, type ThroughputResult } from './shellClient.js';

const chatUrl = (port: number, protocol: ChatProtocol = 'ws') =>
  protocol === 'socketio' ? `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket` : `ws://127.0.0.1:${port}/ws?token=${BENCH_TOKEN}`;
const shellUrl = (port: number) => `ws://127.0.0.1:${port}/shell?token=${BENCH_TOKEN}`;

let pool: ChatClientPool | null = null;
const requirePool = () => {
  if (!pool) throw new Error('no open sockets');
  return pool;
};

export interface StormResult {
  /** From the moment the new sockets start connecting until the last one has caught up (the timeout if some never did). */
  allCaughtUpMs: number;
  /** Some socket had not caught up when the time ran out. */
  timedOut: boolean;
  medianCaughtUpMs: number;
  caughtUp: number;
  /** socket.io: sockets whose session the server recovered (the rest subscribed again). */
  recovered: number;
  clients: number;
  connectFailures: number;
}

export interface LoadApi {
  [method: string]: (params: never) => unknown;
  /** Opens one socket per target, each subscribing to its session; resolves when all are acked. */
  openChat(params: { port: number; protocol?: ChatProtocol; targets: ChatTarget[]; concurrency: number; timeoutMs: number }): Promise<{ clients: number; connectFailures: number }>;
  arm(params: { perClient: number; latencySamples: number }): null;
  awaitTarget(params: { timeoutMs: number }): Promise<ReturnType<ChatClientPool['totals']>>;
  latency(params: null): LatencySummary;
  /** Waits until every client holds every seq up to its session's entry in `lastSeqs`. */
  awaitSeqs(params: { lastSeqs: Record<string, number>; timeoutMs: number }): Promise<ReturnType<ChatClientPool['totals']>>;
  storm(params: { port: number; protocol?: ChatProtocol; pauseMs: number; timeoutMs: number }): Promise<StormResult>;
  closeChat(params: null): Promise<null>;
  /** One fresh socket subscribes with `lastSeq` and reads until `untilSeq`; the connect is not timed. */
  replay(params: { port: number; protocol?: ChatProtocol; sessionId: string; lastSeq: number; untilSeq: number; timeoutMs: number }): Promise<{ ms: number; frames: number; gaps: number; dups: number }>;
  shellStream(params: { port: number; target: Omit<ShellTarget, 'url'>; expectChars: number; timeoutMs: number }): Promise<ThroughputResult>;
  shellRestore(params: { port: number; target: Omit<ShellTarget, 'url'>; marker: string; timeoutMs: number }): Promise<RestoreResult>;
}

const api: LoadApi = {
  async openChat({ port, protocol, targets, concurrency, timeoutMs }) {
    pool ??= new ChatClientPool(chatUrl(port, protocol), protocol);
    await pool.open(targets, concurrency);
    const current = pool;
    await current.waitFor(current.allAcked, timeoutMs, 'subscribe acks');
    return { clients: current.clients.length, connectFailures: current.connectFailures };
  },
  arm({ perClient, latencySamples }) {
    requirePool().arm(perClient, latencySamples);
    return null;
  },
  async awaitTarget({ timeoutMs }) {
    const current = requirePool();
    await current.waitFor(current.allReachedTarget, timeoutMs, 'every client to receive its frames');
    return current.totals();
  },
  latency() {
    const { samples, count } = requirePool().takeLatencies();
    return summarizeLatency(samples, count);
  },
  async awaitSeqs({ lastSeqs, timeoutMs }) {
    const current = requirePool();
    await current.waitFor(
      () => current.clients.every((client) => client.next > (lastSeqs[client.sessionId] ?? 0)),
      timeoutMs,
      'every client to reach its session’s last seq',
    );
    return current.totals();
  },
  async storm({ port, protocol, pauseMs, timeoutMs }) {
    const current = requirePool();
    const resume = current.dropAll();
    const carried = resume.reduce((sum, r) => ({ gaps: sum.gaps + r.gaps, dups: sum.dups + r.dups }), { gaps: 0, dups: 0 });
    await sleep(pauseMs);
    const next = new ChatClientPool(chatUrl(port, protocol), protocol);
    pool = next;
    const startUs = nowUs();
    // All at once: one handshake in flight per socket.
    await next.open(resume.map(({ sessionId, lastSeq, pid, offset }) => ({ sessionId, lastSeq, pid, offset })), resume.length);
    const timedOut = await next
      .waitFor(() => next.clients.every((client) => client.caughtUpUs > 0), timeoutMs, 'every client to catch up')
      .then(() => false, () => true);
    const times = next.clients.filter((c) => c.caughtUpUs > 0).map((c) => (c.caughtUpUs - startUs) / 1000);
    // Gaps/dups seen before the drop belong to the totals too.
    for (const client of next.clients.slice(0, 1)) {
      client.gaps += carried.gaps;
      client.dups += carried.dups;
    }
    return {
      allCaughtUpMs: times.length === resume.length && !timedOut ? Math.max(...times) : timeoutMs,
      timedOut: timedOut || times.length < resume.length,
      medianCaughtUpMs: times.length ? spread(times).median : timeoutMs,
      caughtUp: times.length,
      recovered: next.clients.filter((c) => c.recovered).length,
      clients: resume.length,
      connectFailures: next.connectFailures,
    };
  },
  async closeChat() {
    await pool?.closeAll();
    pool = null;
    return null;
  },
  async replay({ port, protocol, sessionId, lastSeq, untilSeq, timeoutMs }) {
    const single = new ChatClientPool(chatUrl(port, protocol), protocol);
    // Connected first, so only the subscribe → last replayed frame path is timed.
    const [client] = await single.open([{ sessionId, lastSeq }], 1, false);
    if (!client) throw new Error('could not connect');
    try {
      single.arm(untilSeq - lastSeq);
      const startUs = nowUs();
      single.subscribe(client);
      await single.waitFor(() => client.next > untilSeq, timeoutMs, `seq ${untilSeq}`);
      return { ms: (client.lastReceivedUs - startUs) / 1000, frames: client.received, gaps: client.gaps, dups: client.dups };
    } finally {
      await single.closeAll();
    }
  },
  shellStream: ({ port, target, expectChars, timeoutMs }) => readShellStream({ ...target, url: shellUrl(port) }, expectChars, timeoutMs),
  shellRestore: ({ port, target, marker, timeoutMs }) => measureRestore({ ...target, url: shellUrl(port) }, marker, timeoutMs),
};

serve(api, async () => {
  await pool?.closeAll(2000);
});
