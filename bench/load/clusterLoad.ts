/**
 * The cluster workload's load generator (its own process, like loadgen.ts): subscriber sockets on
 * any of the nodes, and the sender that starts a run on one of them. Frames are read from their
 * bytes, never parsed whole: the seq (frames.ts), and the `@t<µs>` stamp that
 * bench/servers/streamAgent.mjs puts at the start of every chunk's text, which arrives as a
 * `stream_delta` frame's `content`. Latency is this process's CLOCK_MONOTONIC at receipt minus
 * that stamp (the same system-wide clock, see bench/lib/clock.ts).
 *
 * Every socket checks what it gets: each seq once, in order, from its subscribe's lastSeq on,
 * and exactly one `complete`.
 */
import { WebSocket } from 'ws';

import { nowUs, sleep } from '../lib/clock.js';
import { ackLastSeq, frameSeq, isAck } from '../lib/frames.js';
import { serve } from '../lib/ipc.js';
import { summarizeLatency, type LatencySummary } from '../lib/stats.js';
import { createConditionWaiter } from '../lib/conditionWaiter.js';

const CONNECT_TIMEOUT_MS = 20_000;
const STAMP = Buffer.from('@t');
const COMPLETE = Buffer.from('"kind":"complete"');
const PROTOCOL_ERROR = Buffer.from('"kind":"protocol_error"');

interface Subscriber {
  ws: WebSocket;
  acked: boolean;
  /** The next seq this socket expects. */
  next: number;
  deltas: number;
  completes: number;
  gaps: number;
  dups: number;
  errors: number;
  lastReceivedUs: number;
}

export interface ClusterTrialTotals {
  clients: number;
  /** Stamped chunks received, all sockets together. */
  deltas: number;
  /** The earliest stamp seen: when the producer wrote its first chunk. */
  firstSentUs: number;
  /** When the last stamped chunk arrived, on any socket. */
  lastReceivedUs: number;
  gaps: number;
  dups: number;
  /** Sockets that got exactly one `complete`. */
  completedOnce: number;
  protocolErrors: number;
  latency: LatencySummary | null;
}

export interface ClusterLoadApi {
  [method: string]: (params: never) => unknown;
  /** One socket per URL (URLs may repeat), each subscribing to `sessionId` from `lastSeq`; resolves when all are acked. */
  open(params: { urls: string[]; sessionId: string; lastSeq: number; timeoutMs: number }): Promise<{ clients: number }>;
  /** Counts from zero; `latencySamples` > 0 keeps that many receive − stamp samples. */
  arm(params: { latencySamples: number }): null;
  /** A socket of its own sends `chat.send`; resolves on the run's first frame. It stays, uncounted, until `close`. */
  start(params: { url: string; sessionId: string; content: string; timeoutMs: number }): Promise<null>;
  /** Waits until every socket has its `complete`. */
  awaitComplete(params: { timeoutMs: number }): Promise<ClusterTrialTotals>;
  close(params: null): Promise<null>;
}

/** The non-negative integer right after `at` in `data`, or -1. */
function integerAt(data: Buffer, at: number): number {
  let value = 0;
  let digits = 0;
  for (let i = at; i < data.length; i++) {
    const c = data[i];
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
    digits++;
  }
  return digits > 0 ? value : -1;
}

let subscribers: Subscriber[] = [];
/** The socket that sent the current run's `chat.send` (it stays until `close`). */
let sender: WebSocket | null = null;
let latencies: Float64Array | null = null;
let latencyCount = 0;
let firstSentUs = Number.POSITIVE_INFINITY;
const { wake, waitFor } = createConditionWaiter();

function onMessage(client: Subscriber, data: Buffer): void {
  const now = nowUs();
  if (!client.acked && isAck(data)) {
    client.acked = true;
    // A fresh session acks lastSeq 0; a resumed one, where its log is.
    if (ackLastSeq(data) < client.next - 1) client.gaps++;
    wake();
    return;
  }
  const seq = frameSeq(data);
  if (seq < 0) {
    if (data.indexOf(PROTOCOL_ERROR) >= 0) client.errors++;
    return;
  }
  if (seq === client.next) client.next++;
  else if (seq < client.next) client.dups++;
  else {
    client.gaps += seq - client.next;
    client.next = seq + 1;
  }
  const at = data.indexOf(STAMP);
  if (at >= 0) {
    const sentUs = integerAt(data, at + STAMP.length);
    client.deltas++;
    client.lastReceivedUs = now;
    if (sentUs < firstSentUs) firstSentUs = sentUs;
    if (latencies && latencyCount < latencies.length) latencies[latencyCount++] = (now - sentUs) / 1000;
    return;
  }
  if (data.indexOf(COMPLETE) >= 0) {
    client.completes++;
    wake();
  }
}

function connectSubscriber(url: string, lastSeq: number): Promise<Subscriber> {
  const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
  const client: Subscriber = { ws, acked: false, next: lastSeq + 1, deltas: 0, completes: 0, gaps: 0, dups: 0, errors: 0, lastReceivedUs: 0 };
  ws.on('message', (data: Buffer) => onMessage(client, data));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`could not connect to ${url.replace(/token=[^&]*/, 'token=…')} in time`));
    }, CONNECT_TIMEOUT_MS);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(client);
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function closeAll(timeoutMs = 5_000): Promise<void> {
  const sockets = [...subscribers.map((client) => client.ws), ...(sender ? [sender] : [])];
  const closing = sockets.map(
    (ws) =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close();
      }),
  );
  await Promise.race([Promise.all(closing), sleep(timeoutMs)]);
  for (const ws of sockets) ws.terminate();
  subscribers = [];
  sender = null;
}

const api: ClusterLoadApi = {
  async open({ urls, sessionId, lastSeq, timeoutMs }) {
    if (subscribers.length > 0) throw new Error('sockets are open already');
    const opened = await Promise.allSettled(urls.map((url) => connectSubscriber(url, lastSeq)));
    subscribers = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = opened.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) {
      await closeAll();
      throw failed.reason;
    }
    // One subscribe at a time, each once the previous one is acked: as of this writing, on a
    // `--redis` node, subscribes of several sockets to one session that arrive within a few ms of
    // each other lose all but the first (no ack, no frames). BENCH_CLUSTER_SUBSCRIBE=together sends
    // them all at once, to see whether that still happens.
    const subscribe = (client: Subscriber) => client.ws.send(JSON.stringify({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq }] }));
    const deadline = Date.now() + timeoutMs;
    if (process.env.BENCH_CLUSTER_SUBSCRIBE === 'together') subscribers.forEach(subscribe);
    else {
      for (const client of subscribers) {
        subscribe(client);
        await waitFor(() => client.acked, Math.max(1, deadline - Date.now()), 'a subscribe ack');
      }
    }
    await waitFor(() => subscribers.every((client) => client.acked), Math.max(1, deadline - Date.now()), 'every subscribe ack');
    return { clients: subscribers.length };
  },
  arm({ latencySamples }) {
    for (const client of subscribers) {
      client.deltas = 0;
      client.lastReceivedUs = 0;
    }
    firstSentUs = Number.POSITIVE_INFINITY;
    latencies = latencySamples > 0 ? new Float64Array(latencySamples) : null;
    latencyCount = 0;
    return null;
  },
  async start({ url, sessionId, content, timeoutMs }) {
    if (sender) throw new Error('a run was started already');
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
    sender = ws;
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the run did not start in time')), timeoutMs);
      const onMessage = (data: Buffer) => {
        if (data.indexOf(PROTOCOL_ERROR) >= 0) {
          clearTimeout(timer);
          reject(new Error(`chat.send refused: ${data.toString().slice(0, 300)}`));
        } else if (frameSeq(data) > 0) {
          // The run's first frame: it started. The socket stays (reading, uncounted) like the tab
          // that sent the prompt. (As of this writing, a sender that leaves mid-run on a `--redis`
          // node makes its lagging viewers skip to the mirror's last 1 000 events at the run's end,
          // with a gap notice, though Redis still holds the skipped ones.)
          clearTimeout(timer);
          ws.off('message', onMessage);
          resolve();
        }
      };
      ws.on('message', onMessage);
      ws.once('open', () => ws.send(JSON.stringify({ type: 'chat.send', sessionId, content })));
      ws.once('close', () => {
        clearTimeout(timer);
        reject(new Error('the sender socket closed before the run started'));
      });
    });
    return null;
  },
  async awaitComplete({ timeoutMs }) {
    await waitFor(() => subscribers.every((client) => client.completes > 0), timeoutMs, 'every socket to get the run’s complete');
    // A second complete (a bug) would come right behind the first: give it a moment to show.
    await sleep(50);
    let deltas = 0;
    let gaps = 0;
    let dups = 0;
    let completedOnce = 0;
    let protocolErrors = 0;
    let lastReceivedUs = 0;
    for (const client of subscribers) {
      deltas += client.deltas;
      gaps += client.gaps;
      dups += client.dups;
      protocolErrors += client.errors;
      if (client.completes === 1) completedOnce++;
      if (client.lastReceivedUs > lastReceivedUs) lastReceivedUs = client.lastReceivedUs;
    }
    const latency = latencies ? summarizeLatency(latencies, latencyCount) : null;
    latencies = null;
    return { clients: subscribers.length, deltas, firstSentUs, lastReceivedUs, gaps, dups, completedOnce, protocolErrors, latency };
  },
  async close() {
    await closeAll();
    return null;
  },
};

serve(api, () => closeAll(2_000));
