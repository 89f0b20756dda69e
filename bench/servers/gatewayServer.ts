/**
 * The system under test: the real gateway (`createWebSocketServer`, real SQLite file in a temp
 * dir, default limits) on 127.0.0.1, with a runtime whose writers the benchmark's producer drives.
 * It is started with node's flags as `npm start` gives them (GATEWAY_V8_FLAGS, by
 * bench/lib/processes.ts), as shipped; `BENCH_GATEWAY_V8_DEFAULTS=1` leaves V8 as it comes.
 * Runs are started the way a client starts them (a `chat.send` over /ws); the setup socket is
 * closed before anything is measured, so it receives nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { WebSocket } from 'ws';

import { createWebSocketServer } from '../../gateway/createWebSocketServer.js';
import type { GatewayLimits } from '../../gateway/config.js';
import { silentLogger } from '../../gateway/logger.js';
import type { ProviderRuntime, RuntimeWriter } from '../../gateway/types.js';
import { openDatabase } from '../../persistence/database.js';
import { createSqliteSessionStore } from '../../persistence/sessionStore.js';
import { waitUntil } from '../lib/clock.js';
import { serve } from '../lib/ipc.js';
import { createStatsApi } from './processStats.js';
import { createProducer, producerApi } from './producer.js';
import { BENCH_TOKEN, type RelayServerApi } from './relayApi.js';

const PROVIDER = 'bench';

const workDir = mkdtempSync(join(tmpdir(), 'ag-bench-gw-'));
const dbPath = join(workDir, 'gateway.sqlite');

interface LiveRun {
  writer: RuntimeWriter;
  finish(): void;
}
const runs = new Map<string, LiveRun>();

const runtime: ProviderRuntime = {
  hasRuntime: (provider) => provider === PROVIDER,
  run(_provider, _content, options, writer) {
    const sessionId = String(options.sessionId);
    return new Promise<void>((resolve) => {
      runs.set(sessionId, { writer, finish: resolve });
    });
  },
  abort: async () => true,
  resolveToolApproval: () => {},
  getPendingApprovalsForSession: () => [],
};

// BENCH_GATEWAY_LIMITS='{"shellLowWaterMarkBytes":131072}' tries other limits (tuning experiments only).
const limits = process.env.BENCH_GATEWAY_LIMITS ? (JSON.parse(process.env.BENCH_GATEWAY_LIMITS) as Partial<GatewayLimits>) : undefined;

const server = createServer((_request, response) => response.writeHead(404).end());
const gateway = createWebSocketServer(server, {
  limits,
  verifyClient: { authenticateWebSocket: (token) => (token === BENCH_TOKEN ? { id: 'bench-user' } : null) },
  chat: { runtime },
  databasePath: dbPath,
  logger: silentLogger,
});
// A reconnect storm opens 1000 connections at once: the accept queue must hold them all.
await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
const { port } = server.address() as AddressInfo;
const storeDb = openDatabase(dbPath);
const store = createSqliteSessionStore(storeDb);

const producer = createProducer((sessionId, message) => {
  const run = runs.get(sessionId);
  if (!run) throw new Error(`no running run for session ${sessionId}`);
  run.writer.send(message);
});

/** Starts one run per session with `chat.send` from a throwaway socket, as a client would. */
async function startRuns(sessionIds: string[]): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${BENCH_TOKEN}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // Stay well inside the gateway's inbound rate limit (burst 400, 200/s).
  for (let i = 0; i < sessionIds.length; i++) {
    ws.send(JSON.stringify({ type: 'chat.send', sessionId: sessionIds[i], content: 'bench', options: {} }));
    if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 600));
  }
  await waitUntil(() => sessionIds.every((id) => runs.has(id)), 10_000, 'runs to start');
  await new Promise<void>((resolve) => {
    ws.once('close', () => resolve());
    ws.close();
  });
  // The gateway has processed the close (and unsubscribed the sender) once its actors have no subscriber.
  await waitUntil(
    () => gateway.listActors().chat.every((s) => (s as { subscribers: number }).subscribers === 0),
    5000,
    'the setup socket to detach',
  );
}

const api: RelayServerApi = {
  info: () => ({ port, protocol: 'ws', pid: process.pid, workDir }),
  async createSessions({ count }) {
    const sessionIds: string[] = [];
    for (let i = 0; i < count; i++) sessionIds.push(store.createSession({ provider: PROVIDER, projectPath: workDir }).sessionId);
    await startRuns(sessionIds);
    return { sessionIds };
  },
  ...producerApi(producer),
  async finishSessions({ sessionIds }) {
    for (const sessionId of sessionIds) {
      const run = runs.get(sessionId);
      if (!run) continue;
      run.writer.send({ kind: 'complete', exitCode: 0 });
      run.finish();
      runs.delete(sessionId);
    }
    return null;
  },
  ...createStatsApi(),
};

serve(api, async () => {
  for (const run of runs.values()) run.finish();
  storeDb.close();
  await gateway.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(workDir, { recursive: true, force: true });
});
