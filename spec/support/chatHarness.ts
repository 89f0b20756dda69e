/**
 * A real gateway for chat tests: node:http on 127.0.0.1:0, createWebSocketServer with a SQLite
 * file in a temp dir, and a scripted provider runtime the test drives run by run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import WebSocket from 'ws';

import { createWebSocketServer, type GatewayHandle } from '../../gateway/createWebSocketServer.js';
import { silentLogger } from '../../gateway/logger.js';
import type { GatewayDeps, PermissionDecision, ProviderRuntime, RuntimeWriter } from '../../gateway/types.js';
import { openDatabase } from '../../persistence/database.js';
import { createSqliteSessionStore } from '../../persistence/sessionStore.js';

export const TOKEN = 'test-token';

export interface ScriptedRun {
  provider: string;
  content: string;
  options: Record<string, unknown>;
  writer: RuntimeWriter;
  resolve(value?: unknown): void;
  reject(error: unknown): void;
  settled: boolean;
}

export interface ScriptedRuntime extends ProviderRuntime {
  runs: ScriptedRun[];
  nextRun(timeoutMs?: number): Promise<ScriptedRun>;
  /** What abort() answers next (default true); 'hang' never answers. */
  abortAnswer: boolean | 'hang';
  aborts: string[];
  approvals: Array<{ requestId: string; decision: PermissionDecision }>;
  /** Throw synchronously from run() for the next call. */
  throwNext: Error | null;
}

export function createScriptedRuntime(providers: string[] = ['scripted']): ScriptedRuntime {
  const waiters: Array<(run: ScriptedRun) => void> = [];
  let delivered = 0;
  const runtime: ScriptedRuntime = {
    runs: [],
    abortAnswer: true,
    aborts: [],
    approvals: [],
    throwNext: null,
    hasRuntime: (provider) => providers.includes(provider),
    run(provider, content, options, writer) {
      if (runtime.throwNext) {
        const error = runtime.throwNext;
        runtime.throwNext = null;
        return Promise.reject(error);
      }
      return new Promise((resolve, reject) => {
        const run: ScriptedRun = {
          provider,
          content,
          options,
          writer,
          settled: false,
          resolve: (value) => {
            run.settled = true;
            resolve(value);
          },
          reject: (error) => {
            run.settled = true;
            reject(error);
          },
        };
        runtime.runs.push(run);
        const waiter = waiters.shift();
        if (waiter) {
          delivered += 1;
          waiter(run);
        }
      });
    },
    nextRun(timeoutMs = 5000) {
      if (delivered < runtime.runs.length) return Promise.resolve(runtime.runs[delivered++]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no run started in time')), timeoutMs);
        waiters.push((run) => {
          clearTimeout(timer);
          resolve(run);
        });
      });
    },
    async abort(_provider, sessionId) {
      runtime.aborts.push(sessionId);
      if (runtime.abortAnswer === 'hang') return new Promise<boolean>(() => {});
      return runtime.abortAnswer;
    },
    resolveToolApproval(requestId, decision) {
      runtime.approvals.push({ requestId, decision });
    },
    getPendingApprovalsForSession: () => [],
  };
  return runtime;
}

export interface Harness {
  url: string;
  port: number;
  server: Server;
  gateway: GatewayHandle;
  dir: string;
  dbPath: string;
  createSession(provider?: string, projectPath?: string): string;
  /** Closes the gateway and http server; the data dir stays (see `cleanup`). */
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startHarness(
  runtime: ProviderRuntime,
  overrides: Partial<GatewayDeps> = {},
  dir = mkdtempSync(join(tmpdir(), 'ag-chat-')),
): Promise<Harness> {
  const dbPath = join(dir, 'gateway.sqlite');
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const gateway = createWebSocketServer(server, {
    verifyClient: { authenticateWebSocket: (token) => (token === TOKEN ? { id: 'u1', username: 'tester' } : null) },
    chat: { runtime },
    databasePath: dbPath,
    logger: silentLogger,
    ...overrides,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  // A second connection to the same file: the test's own view of the session table.
  const storeDb = openDatabase(dbPath);
  const store = createSqliteSessionStore(storeDb);
  let stopped = false;
  const harness: Harness = {
    url: `ws://127.0.0.1:${port}`,
    port,
    server,
    gateway,
    dir,
    dbPath,
    createSession: (provider = 'scripted', projectPath = dir) => store.createSession({ provider, projectPath }).sessionId,
    async stop() {
      if (stopped) return;
      stopped = true;
      storeDb.close();
      await gateway.close();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async cleanup() {
      await harness.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

export type Frame = Record<string, unknown> & { kind?: string; seq?: number };

export interface TestClient {
  ws: WebSocket;
  frames: Frame[];
  closeEvent: { code: number; reason: string } | null;
  send(frame: unknown): void;
  sendRaw(data: string | Buffer, binary?: boolean): void;
  /** Resolves with the first frame (from index `from`) matching; rejects after timeoutMs. */
  waitFor(predicate: (frame: Frame) => boolean, timeoutMs?: number, from?: number): Promise<Frame>;
  waitForClose(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  /** Frames of a session that carry a seq, in arrival order. */
  seqs(sessionId?: string): number[];
  close(): Promise<void>;
}

export function connect(url: string, path = '/ws', token: string | null = TOKEN, headers: Record<string, string> = {}): Promise<TestClient> {
  const full = token === null ? `${url}${path}` : `${url}${path}${path.includes('?') ? '&' : '?'}token=${token}`;
  const ws = new WebSocket(full, { headers });
  const listeners = new Set<() => void>();
  const client: TestClient = {
    ws,
    frames: [],
    closeEvent: null,
    send: (frame) => ws.send(JSON.stringify(frame)),
    sendRaw: (data, binary = false) => ws.send(data, { binary }),
    waitFor(predicate, timeoutMs = 5000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (let i = from; i < client.frames.length; i++) {
            if (predicate(client.frames[i])) {
              listeners.delete(check);
              clearTimeout(timer);
              resolve(client.frames[i]);
              return true;
            }
          }
          return false;
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`waitFor timed out; frames: ${JSON.stringify(client.frames.slice(-5))}`));
        }, timeoutMs);
        if (!check()) listeners.add(check);
      });
    },
    waitForClose(timeoutMs = 5000) {
      if (client.closeEvent) return Promise.resolve(client.closeEvent);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('socket did not close')), timeoutMs);
        ws.once('close', (code, reason) => {
          clearTimeout(timer);
          resolve({ code, reason: reason.toString() });
        });
      });
    },
    seqs(sessionId) {
      return client.frames
        .filter((f) => typeof f.seq === 'number' && (sessionId === undefined || f.sessionId === sessionId))
        .map((f) => f.seq as number);
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      const closed = new Promise((resolve) => ws.once('close', resolve));
      ws.close();
      await closed;
    },
  };
  ws.on('message', (data) => {
    client.frames.push(JSON.parse(data.toString()) as Frame);
    for (const listener of [...listeners]) listener();
  });
  ws.on('close', (code, reason) => {
    client.closeEvent = { code, reason: reason.toString() };
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

/** Waits until `condition()` is true, polling; rejects after timeoutMs. */
export async function until(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
