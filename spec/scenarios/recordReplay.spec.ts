/**
 * Record a live demo-agent session (two chat clients, a permission, an abort, garbage, a real
 * PTY), then replay the recording against a fresh gateway: the scenario passes, and every
 * client receives the same frames as live, apart from what a gateway makes up anew each time
 * (timestamps, gateway-made ids, run ids: those must still be used consistently).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as nodePty from 'node-pty';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { createWebSocketServer } from '../../gateway/createWebSocketServer.js';
import { createDemoRuntime } from '../../gateway/app/demoAgent.js';
import { silentLogger } from '../../gateway/logger.js';
import { runRecordCommand } from '../../gateway/app/recording/recordCommand.js';
import { createSessionRecorder } from '../../gateway/app/recording/recorder.js';
import { openDatabase } from '../../persistence/database.js';
import { createSqliteSessionStore } from '../../persistence/sessionStore.js';
import { connect, TOKEN, type Frame, type TestClient } from '../support/chatHarness.js';
import type { Scenario } from './format.js';
import { loadScenario } from './load.js';
import { runScenario } from './runner.js';

/** What a gateway makes up on every run: not comparable between live and replay. */
function comparable(frames: unknown[]): unknown[] {
  const runIds = new Map<string, string>();
  return frames.map((frame) => {
    if (!frame || typeof frame !== 'object') return frame;
    const copy = JSON.parse(JSON.stringify(frame)) as Record<string, unknown>;
    delete copy.timestamp;
    if (copy.kind === 'chat_subscribed' || copy.kind === 'protocol_error' || copy.kind === 'session_upserted' || (copy.kind === 'complete' && copy.aborted === true)) {
      delete copy.id;
    }
    if (typeof copy.runId === 'string') {
      if (!runIds.has(copy.runId)) runIds.set(copy.runId, `run#${runIds.size + 1}`);
      copy.runId = runIds.get(copy.runId);
    }
    const session = copy.session as Record<string, unknown> | undefined;
    if (session && typeof session === 'object') delete session.lastActivity;
    return copy;
  });
}

async function recordDemoSession(dir: string): Promise<{ scenario: Scenario; live: Frame[][] }> {
  const dbPath = join(dir, 'live.sqlite');
  const database = openDatabase(dbPath);
  const sessions = createSqliteSessionStore(database);
  sessions.createSession({ sessionId: 'demo-1', provider: 'demo', projectPath: dir });
  const recorder = createSessionRecorder({ sessions });
  const server = createServer((_request, response) => response.writeHead(404).end());
  const gateway = createWebSocketServer(server, {
    verifyClient: { authenticateWebSocket: (token) => (token === TOKEN ? { id: 'u1' } : null) },
    chat: { runtime: recorder.wrapRuntime(createDemoRuntime({ deltaIntervalMs: 5, permissionTimeoutMs: 60_000 })) },
    shell: { spawnPty: recorder.wrapSpawnPty(nodePty.spawn) },
    sessions,
    databasePath: dbPath,
    logger: silentLogger,
  });
  recorder.attach(gateway);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: TestClient[] = [];
  const open = async (path = '/ws') => {
    const client = await connect(url, path);
    clients.push(client);
    return client;
  };

  const a = await open();
  a.send({ type: 'chat.subscribe', sessions: [{ sessionId: 'demo-1', lastSeq: 0 }] });
  await a.waitFor((f) => f.kind === 'chat_subscribed');
  a.send({ type: 'chat.send', sessionId: 'demo-1', content: 'please read the readme' });
  const request = await a.waitFor((f) => f.kind === 'permission_request');
  const b = await open();
  b.send({ type: 'chat.subscribe', sessions: [{ sessionId: 'demo-1', lastSeq: 3 }] });
  await b.waitFor((f) => f.kind === 'permission_request');
  b.send({ type: 'chat.permission-response', requestId: request.requestId, allow: true });
  await a.waitFor((f) => f.kind === 'complete');
  await b.waitFor((f) => f.kind === 'complete');

  a.send({ type: 'chat.send', sessionId: 'demo-1', content: '/no-tool tell me more' });
  const firstRun = a.frames.filter((f) => f.kind === 'complete').length;
  await a.waitFor((f) => f.kind === 'stream_delta' && typeof f.seq === 'number' && f.seq > (request.seq as number) + 10);
  a.send({ type: 'chat.abort', sessionId: 'demo-1' });
  await a.waitFor((f) => f.kind === 'complete' && f.aborted === true);
  assert.is(a.frames.filter((f) => f.kind === 'complete').length, firstRun + 1);
  b.sendRaw('not json');
  await b.waitFor((f) => f.kind === 'protocol_error');

  const term = await open('/shell');
  term.send({ type: 'init', projectPath: dir, isPlainShell: true, initialCommand: "printf 'hello from a pty\\n'", cols: 80, rows: 24 });
  await term.waitFor((f) => typeof f.data === 'string' && f.data.includes('Process exited with code 0'));

  for (const client of clients) await client.close();
  // The gateway has seen every close before the recording is taken.
  const deadline = Date.now() + 5000;
  while (gateway.clients.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  const scenario = recorder.toScenario('recorded demo session') as unknown as Scenario;
  await gateway.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  database.close();
  return { scenario, live: clients.map((client) => client.frames) };
}

test('a recorded demo-agent session replays with identical frames', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-record-'));
  try {
    const { scenario, live } = await recordDemoSession(dir);
    // Through a file, as a user would replay it.
    const file = join(dir, 'session.scenario.json');
    writeFileSync(file, JSON.stringify(scenario, null, 2));
    const replay = await runScenario(loadScenario(file), { source: file });
    if (!replay.ok) assert.unreachable(replay.failure ?? 'replay failed');
    assert.is(replay.clients.length, live.length, 'one replayed client per live client');
    for (let i = 0; i < live.length; i++) {
      assert.equal(comparable(replay.clients[i].frames), comparable(live[i]), `client ${i + 1} (${replay.clients[i].path}) got the same frames`);
    }
    assert.ok(live[0].length > 40, 'the session streamed a real answer');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a replay that diverges from its recording fails, showing the first differing frame', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-record-'));
  try {
    const { scenario } = await recordDemoSession(dir);
    // The runtime now says something else than it did live.
    const step = scenario.steps.find((candidate) => 'runtime' in candidate && Array.isArray((candidate as { emit?: unknown }).emit)) as { emit: Array<Record<string, unknown>> };
    const message = step.emit.find((candidate) => candidate.kind === 'status');
    assert.ok(message, 'the recording holds the demo agent status message');
    message!.text = 'Daydreaming';
    const replay = await runScenario(scenario);
    assert.is(replay.ok, false);
    assert.match(replay.failure ?? '', /differs at text: expected "Thinking", got "Daydreaming"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('agent-gateway record: --out is required; --help explains it', async () => {
  const run = async (argv: string[]) => {
    const out = { stdout: '', stderr: '', code: -1 };
    await runRecordCommand(argv, {
      argv: [],
      env: {},
      stdout: (text) => void (out.stdout += text),
      stderr: (text) => void (out.stderr += text),
      exit: (code) => void (out.code = code),
      onSignal: () => {},
    });
    return out;
  };
  const missing = await run(['--port', '0']);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /--out FILE is required/);
  const help = await run(['--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /Usage: agent-gateway record --out FILE/);
  assert.is((await run(['--out'])).code, 2);
});

test('an empty recording is a valid, empty scenario', () => {
  const text = createSessionRecorder().toJSON('nothing happened');
  const scenario = JSON.parse(text) as Scenario;
  assert.equal(scenario.steps, []);
  assert.is(scenario.timing, 'recorded');
});

test.run();
