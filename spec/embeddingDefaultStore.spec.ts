/**
 * An embedder that lets the gateway keep its sessions (no `deps.sessions`): it creates sessions
 * through the package's own exports on the same database file, chats in them over real sockets,
 * and forgets a session through the handle (refused while its run is running).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { createWebSocketServer, openSessionStore, silentLogger } from '../gateway/index.js';
import { connect, createScriptedRuntime, TOKEN, until } from './support/chatHarness.js';

test('sessions created through the exports are the gateway\'s; forgetSession waits for the run, then drops the log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-default-store-'));
  const databasePath = join(dir, 'gateway.sqlite');
  const runtime = createScriptedRuntime();
  const server = createServer((_req, res) => res.writeHead(404).end());
  const gateway = createWebSocketServer(server, {
    verifyClient: { authenticateWebSocket: (token) => (token === TOKEN ? { id: 'u1' } : null) },
    chat: { runtime },
    databasePath,
    logger: silentLogger,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const store = openSessionStore(databasePath);
  try {
    const { sessionId } = store.createSession({ provider: 'scripted', projectPath: dir });
    const client = await connect(url);
    client.send({ type: 'chat.send', sessionId, content: 'hi' });
    const run = await runtime.nextRun();
    run.writer.send({ kind: 'text', content: 'hello' });
    await client.waitFor((f) => f.kind === 'text');
    assert.is(run.options.projectPath, dir, 'the row made through the exports is the one the run got');

    assert.is(gateway.forgetSession(sessionId), false, 'not while its run is running');
    assert.is(gateway.eventLog.latestSeq(sessionId), 1, 'and nothing was dropped');

    run.writer.send({ kind: 'complete', exitCode: 0 });
    run.resolve();
    await client.waitFor((f) => f.kind === 'complete');
    await until(() => !gateway.chatRunRegistry.isProcessing(sessionId));
    assert.is(gateway.forgetSession(sessionId), true);
    assert.is(gateway.eventLog.latestSeq(sessionId), 0, 'its log is gone');
    assert.equal(gateway.eventLog.read(sessionId, 0, 10), []);
    assert.is(store.deleteSession(sessionId), true);
    const before = client.frames.length;
    client.send({ type: 'chat.send', sessionId, content: 'again' });
    const error = await client.waitFor((f) => f.kind === 'protocol_error', 5000, before);
    assert.is(error.code, 'SESSION_NOT_FOUND');
    await client.close();
  } finally {
    store.close();
    await gateway.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
