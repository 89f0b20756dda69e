/**
 * `npx tsx bench/hotPath.ts [events] [subscribers] [perTurn]` — the gateway's own cost per event,
 * in one process: the real `createWebSocketServer` on a real SQLite file, one run, `events`
 * stream_delta messages handed to its writer `perTurn` at a time (100: a provider's stdout chunk),
 * with `subscribers` real sockets attached (0 by default: machines, serialization and the log
 * only). Prints CPU µs per event (process.cpuUsage; with sockets it includes the clients'
 * reading, so compare like with like). Run it under `node --cpu-prof` to see where the time
 * goes without the other processes of `npm run bench`. A development probe, not a workload.
 * It runs with the V8 setting the standalone gateway applies (gateway/v8Tuning.ts);
 * `HOT_PATH_V8_DEFAULTS=1` leaves V8 as it comes, to see what the setting is worth.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { WebSocket } from 'ws';

import { createWebSocketServer } from '../gateway/createWebSocketServer.js';
import { silentLogger } from '../gateway/logger.js';
import type { ProviderRuntime, RuntimeWriter } from '../gateway/types.js';
import { tuneV8ForGateway } from '../gateway/v8Tuning.js';
import { openDatabase } from '../persistence/database.js';
import { createSqliteSessionStore } from '../persistence/sessionStore.js';
import { nextTurn, nowUs, waitUntil } from './lib/clock.js';
import { deltaMessage, frameSeq } from './lib/frames.js';

if (process.env.HOT_PATH_V8_DEFAULTS !== '1') tuneV8ForGateway();

const [events = 100_000, subscribers = 0, perTurn = 100] = process.argv.slice(2).map(Number);
const TOKEN = 'hot-path';
const workDir = mkdtempSync(join(tmpdir(), 'ag-hot-path-'));

let writer: RuntimeWriter | null = null;
const runtime: ProviderRuntime = {
  hasRuntime: () => true,
  run(_provider, _content, _options, w) {
    writer = w;
    return new Promise<void>(() => {});
  },
  abort: async () => true,
  resolveToolApproval: () => {},
  getPendingApprovalsForSession: () => [],
};

const server = createServer();
const gateway = createWebSocketServer(server, {
  verifyClient: { authenticateWebSocket: (token) => (token === TOKEN ? { id: 'u' } : null) },
  chat: { runtime },
  databasePath: join(workDir, 'gateway.sqlite'),
  logger: silentLogger,
});
await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
const { port } = server.address() as AddressInfo;
const storeDb = openDatabase(join(workDir, 'gateway.sqlite'));
const { sessionId } = createSqliteSessionStore(storeDb).createSession({ provider: 'bench', projectPath: workDir });

const open = () =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });

const starter = await open();
starter.send(JSON.stringify({ type: 'chat.send', sessionId, content: 'x', options: {} }));
await waitUntil(() => writer !== null, 10_000, 'the run to start');
starter.close();
await waitUntil(() => gateway.listActors().chat.every((s) => (s as { subscribers: number }).subscribers === 0), 5000, 'detach');

let lastSeen = 0;
const sockets: WebSocket[] = [];
for (let i = 0; i < subscribers; i++) {
  const ws = await open();
  ws.on('message', (data: Buffer) => {
    const seq = frameSeq(data);
    if (seq > lastSeen) lastSeen = seq;
  });
  ws.send(JSON.stringify({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] }));
  sockets.push(ws);
}
await new Promise((resolve) => setTimeout(resolve, 200));

const send = (n: number) => writer!.send(deltaMessage(n, nowUs()));
// Warm-up: JIT and the log's statements.
for (let i = 0; i < 5000; i++) {
  send(i);
  if (i % perTurn === perTurn - 1) await nextTurn();
}
await nextTurn();
const firstSeq = lastSeen;

const cpu0 = process.cpuUsage();
const t0 = nowUs();
for (let i = 0; i < events; i++) {
  send(i);
  if (i % perTurn === perTurn - 1) await nextTurn();
}
await nextTurn();
if (subscribers > 0) await waitUntil(() => lastSeen >= firstSeq + events, 60_000, 'every frame');
const cpu = process.cpuUsage(cpu0);
const wallUs = nowUs() - t0;
const cpuUs = cpu.user + cpu.system;
console.log(
  `${events} events, ${subscribers} subscriber(s), ${perTurn} per turn: ${(cpuUs / events).toFixed(2)} µs CPU per event, ` +
    `${(wallUs / events).toFixed(2)} µs wall per event`,
);

for (const ws of sockets) ws.terminate();
storeDb.close();
await gateway.close();
server.closeAllConnections();
server.close();
rmSync(workDir, { recursive: true, force: true });
process.exit(0);
