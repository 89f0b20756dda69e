#!/usr/bin/env node
/**
 * The cluster benchmark's producer inside a real CLI node: a minimal ACP agent on stdio (the
 * gateway starts it as `--agent`/`--agents-file` provider `bench`), speaking newline-delimited
 * JSON-RPC by hand so it costs next to nothing beside the node it feeds. The CLI has no hook for
 * bench/servers/producer.ts's in-process writer, so this reproduces the producer's two modes
 * through the runtime a real agent uses (each chunk becomes a `stream_delta` frame):
 *
 *   burst N BATCH WAIT_MS   N `agent_message_chunk`s, BATCH per stdout write (one write per
 *                           event-loop turn, like the producer's burst), stamped when written
 *   pace N RATE WAIT_MS     N chunks at RATE per second, each stamped with the time it was due
 *                           (so a node whose loop is busy makes them late, and that counts)
 *
 * Both start WAIT_MS after the prompt arrived (the run's start has settled by then), then end
 * the turn (`end_turn`, the gateway's `complete`). Each chunk's text begins `@t<µs>`: the
 * CLOCK_MONOTONIC time (process.hrtime, system-wide on Linux and macOS, what bench/lib/clock.ts
 * reads) the load generator subtracts from its own clock on receipt. Bounded: N ≤ MAX_EVENTS,
 * a paced stream gives up at LATE_LIMIT_FACTOR × its planned time, and the process exits when
 * its stdin closes (its node is gone). `session/cancel` stops a stream.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';

const MAX_EVENTS = 1_000_000;
const MAX_WAIT_MS = 10_000;
const LATE_LIMIT_FACTOR = 3;
const PACE_TICK_MS = 1;
const WORDS = ['Refactoring ', 'the handler ', 'so that each ', 'frame is serialized ', 'only once. '];

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const write = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const reply = (id, result) => write({ jsonrpc: '2.0', id, result });
const fail = (id, message) => write({ jsonrpc: '2.0', id, error: { code: -32602, message } });

let sessionCounter = 0;
/** Per ACP session: set when a `session/cancel` arrives for its running turn. */
const cancelled = new Map();

function chunkLine(sessionId, t, n) {
  const update = { sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: `@t${t} ${WORDS[n % WORDS.length]}` } };
  return `${JSON.stringify({ jsonrpc: '2.0', method: 'session/update', params: { sessionId, update } })}\n`;
}

function parsePrompt(params) {
  const text = (params.prompt ?? []).map((block) => (block && block.type === 'text' ? block.text : '')).join(' ');
  const [mode, a, b, c] = text.trim().split(/\s+/);
  const count = Math.min(MAX_EVENTS, Math.max(0, Math.floor(Number(a) || 0)));
  const waitMs = Math.min(MAX_WAIT_MS, Math.max(0, Number(c) || 0));
  if (mode === 'burst') return { mode, count, batch: Math.max(1, Math.floor(Number(b) || 100)), waitMs };
  if (mode === 'pace') return { mode, count, rate: Math.max(1, Number(b) || 1000), waitMs };
  return null;
}

async function burst(sessionId, { count, batch }, isCancelled) {
  let sent = 0;
  while (sent < count && !isCancelled()) {
    const end = Math.min(count, sent + batch);
    const t = nowUs();
    let lines = '';
    for (; sent < end; sent++) lines += chunkLine(sessionId, t, sent);
    process.stdout.write(lines);
    await nextTurn();
  }
}

async function pace(sessionId, { count, rate }, isCancelled) {
  const startUs = nowUs();
  const giveUpAtUs = startUs + (LATE_LIMIT_FACTOR * count * 1e6) / rate;
  let sent = 0;
  while (sent < count && !isCancelled()) {
    const now = nowUs();
    if (now >= giveUpAtUs) break;
    // Chunk k is due at k / RATE s: by `now`, chunks 0 … floor(elapsed × RATE) are (the `+ 1`:
    // without it every chunk would leave one interval after the time it is stamped with).
    const due = Math.min(count, Math.floor(((now - startUs) * rate) / 1e6) + 1);
    let lines = '';
    for (; sent < due; sent++) lines += chunkLine(sessionId, startUs + Math.floor((sent * 1e6) / rate), sent);
    if (lines) process.stdout.write(lines);
    if (sent < count) await sleep(PACE_TICK_MS);
  }
}

async function prompt(id, params) {
  const sessionId = String(params.sessionId);
  const plan = parsePrompt(params);
  if (!plan) {
    fail(id, 'expected "burst N BATCH WAIT_MS" or "pace N RATE WAIT_MS"');
    return;
  }
  const state = { cancelled: false };
  cancelled.set(sessionId, state);
  const isCancelled = () => state.cancelled;
  if (plan.waitMs > 0) await sleep(plan.waitMs);
  if (plan.mode === 'burst') await burst(sessionId, plan, isCancelled);
  else await pace(sessionId, plan, isCancelled);
  cancelled.delete(sessionId);
  reply(id, { stopReason: state.cancelled ? 'cancelled' : 'end_turn' });
}

function handle(message) {
  const { id, method, params = {} } = message;
  switch (method) {
    case 'initialize':
      reply(id, { protocolVersion: 1, agentCapabilities: { loadSession: false }, agentInfo: { name: 'bench-stream-agent', version: '1.0.0' }, authMethods: [] });
      return;
    case 'session/new':
      reply(id, { sessionId: `bench_${process.pid}_${++sessionCounter}` });
      return;
    case 'session/prompt':
      void prompt(id, params);
      return;
    case 'session/cancel': {
      const state = cancelled.get(String(params.sessionId));
      if (state) state.cancelled = true;
      return;
    }
    default:
      if (id !== undefined && method !== undefined) write({ jsonrpc: '2.0', id, error: { code: -32601, message: `method not found: ${method}` } });
  }
}

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let newline;
  while ((newline = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, newline).trim();
    buffered = buffered.slice(newline + 1);
    if (!line) continue;
    try {
      handle(JSON.parse(line));
    } catch {
      // not ours to answer: a malformed line from the client is ignored
    }
  }
});
process.stdin.on('end', () => process.exit(0));
process.stdout.on('error', () => process.exit(0));
