/**
 * `npm run build` produces a package another project can import: a consumer project with
 * agent-gateway in its node_modules type-checks against dist/types under strict, and runs a
 * gateway from dist/index.js that a real socket can talk to.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = resolve(import.meta.dirname, '..');
const require = createRequire(import.meta.url);

test('the built package is importable, typed, and works', () => {
  execFileSync(process.execPath, ['build.mjs'], { cwd: root, stdio: 'pipe' });
  const project = mkdtempSync(join(tmpdir(), 'ag-consumer-'));
  try {
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(root, join(project, 'node_modules', 'agent-gateway'), 'dir');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          noEmit: true,
          skipLibCheck: false,
          types: [],
          typeRoots: [join(root, 'node_modules', '@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    writeFileSync(
      join(project, 'consumer.ts'),
      `import type { Server } from 'node:http';
import { createWebSocketServer, openSessionStore, type GatewayHandle, type ProviderRuntime, type SessionStoreFile } from 'agent-gateway';
import { createClaudeCodeUiWebSocketServer, type ClaudeCodeUiHost } from 'agent-gateway/claudecodeui';
import { createAcpRuntime, createCompositeRuntime, type AcpRuntime, type AgentSpec } from 'agent-gateway/acp';
import { openRedisCluster, DEFAULT_RUN_LEASE_MS, type ClusterBackend } from 'agent-gateway/cluster';
declare const server: Server;
const runtime: ProviderRuntime<'claude' | 'codex'> = {
  hasRuntime: (p) => p === 'claude',
  run: async (_provider, _command, _options, writer) => writer.send({ kind: 'text' }),
  abort: async () => true,
  resolveToolApproval: () => {},
  getPendingApprovalsForSession: () => [],
};
const handle: GatewayHandle = createWebSocketServer(server, {
  verifyClient: { authenticateWebSocket: (token) => (token ? { id: 1 } : null) },
  chat: { runtime },
});
void handle.close();
// The default store, for a host without a session table of its own.
const store: SessionStoreFile = openSessionStore('/var/tmp/gw.sqlite');
const created: { sessionId: string } = store.createSession({ provider: 'claude', projectPath: '/srv' });
void created;
store.close();
// The claudecodeui entry resolves through its own "exports" path.
declare const host: ClaudeCodeUiHost<'claude' | 'codex'>;
const wss = createClaudeCodeUiWebSocketServer(server, { verifyClient: { authenticateWebSocket: () => null }, chat: { runtime } }, host, '/var/tmp');
void wss.gateway.close();
// The ACP runtime entry: a ProviderRuntime a host can pass as chat.runtime, alone or composed.
const agents: AgentSpec[] = [{ name: 'gemini', command: 'gemini', args: ['--experimental-acp'], env: {} }];
const acp: AcpRuntime = createAcpRuntime({ agents, limits: { idleStopMs: 60_000 } });
const both = createCompositeRuntime([acp]);
createWebSocketServer(server, { verifyClient: { authenticateWebSocket: () => null }, chat: { runtime: both } });
void acp.close();
// The cluster entry: a node of several on one Redis.
async function node(): Promise<ClusterBackend> {
  const cluster = await openRedisCluster({ url: 'redis://127.0.0.1:6379', nodeId: 'a', leaseMs: DEFAULT_RUN_LEASE_MS, maxEventsPerSession: 5000, maxBytesPerSession: 1 << 24, tailEvents: 1000 });
  createWebSocketServer(server, { verifyClient: { authenticateWebSocket: () => null }, chat: { runtime }, cluster });
  return cluster;
}
void node;
`,
    );
    // Types resolve through the package's "exports" and check under strict.
    const tsc = require.resolve('typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, "-p", project], { cwd: project, stdio: "pipe" });
    } catch (error) {
      throw new Error(`the consumer does not type-check:\n${String((error as { stdout?: Buffer }).stdout ?? error)}`);
    }

    writeFileSync(
      join(project, 'run.mjs'),
      `import { createServer } from 'node:http';
import WebSocket from '${join(root, 'node_modules', 'ws', 'wrapper.mjs')}';
import { createWebSocketServer, chatRunRegistry } from 'agent-gateway';
import { createClaudeCodeUiWebSocketServer } from 'agent-gateway/claudecodeui';
// Warnings and errors are printed: a screen mirror worker that cannot start would say so here.
const quiet = () => {};
const loud = (message) => console.log('LOG ' + message);
const server = createServer();
const gateway = createWebSocketServer(server, {
  verifyClient: { authenticateWebSocket: (token) => (token === 't' ? { id: 1 } : null) },
  chat: { runtime: { hasRuntime: () => false, run: async () => {}, abort: async () => false, resolveToolApproval() {}, getPendingApprovalsForSession: () => [] } },
  databasePath: ':memory:',
  logger: { debug: quiet, info: quiet, warn: loud, error: loud },
});
const open = (path) => new Promise((resolve) => {
  const ws = new WebSocket('ws://127.0.0.1:' + server.address().port + path + '?token=t');
  ws.on('open', () => resolve(ws));
});
const firstFrame = (ws, match) => new Promise((resolve) => {
  let text = '';
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    text += frame.data ?? '';
    if (match(frame, text)) resolve(frame);
  });
});
server.listen(0, '127.0.0.1', async () => {
  // Both entries share one copy of the library: the registry sees this gateway.
  console.log(typeof createClaudeCodeUiWebSocketServer, chatRunRegistry.isProcessing('none'));
  const chat = await open('/ws');
  const ack = firstFrame(chat, () => true);
  chat.send(JSON.stringify({ type: 'chat.subscribe', sessions: [{ sessionId: 's1' }] }));
  console.log((await ack).kind);
  chat.close();
  // A shell, then a second socket onto the same PTY: its restore comes from the mirror worker.
  const init = JSON.stringify({ type: 'init', projectPath: process.cwd(), isPlainShell: true, initialCommand: "printf 'built-%s\\\\n' ok; read -r x" });
  const first = await open('/shell');
  const printed = firstFrame(first, (_frame, text) => text.includes('built-ok'));
  first.send(init);
  await printed;
  const second = await open('/shell');
  const restored = firstFrame(second, (frame) => frame.type === 'output' && frame.data.startsWith('\\x1bc'));
  second.send(init);
  console.log((await restored).data.includes('built-ok') ? 'restored' : 'restore without the output');
  first.close();
  second.close();
  await gateway.close();
  server.close();
});
`,
    );
    const output = execFileSync(process.execPath, ['run.mjs'], { cwd: project, encoding: 'utf8', timeout: 30_000 });
    assert.is(output.trim(), 'function false\nchat_subscribed\nrestored');

    // The built ACP entry drives a real ACP agent (the specs' own) through one run.
    writeFileSync(
      join(project, 'acp.mjs'),
      `import { createAcpRuntime } from 'agent-gateway/acp';
const frames = [];
const writer = { send: (m) => frames.push(m), setSessionId: () => {}, getSessionId: () => null, userId: null, isWebSocketWriter: true };
const runtime = createAcpRuntime({ agents: [{ name: 'acp', command: process.execPath, args: [${JSON.stringify(join(root, 'spec', 'support', 'acpAgent', 'agent.mjs'))}], env: {} }] });
await runtime.run('acp', 'stream', { sessionId: 's1', projectPath: process.cwd() }, writer);
await runtime.close();
console.log(frames.map((f) => f.kind).filter((k, i, all) => all.indexOf(k) === i).join(','));
`,
    );
    const acpOutput = execFileSync(process.execPath, ['acp.mjs'], { cwd: project, encoding: 'utf8', timeout: 30_000 });
    assert.is(acpOutput.trim(), 'text,thinking,stream_delta,status,stream_end,complete');
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});

test.run();
