import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';

import { connect, createScriptedRuntime, startHarness, TOKEN, until } from './support/chatHarness.js';

const test = suite('transport: upgrade, auth, routing, heartbeat, shutdown');

const expectStatus = async (promise: Promise<unknown>, status: number) => {
  try {
    await promise;
  } catch (error) {
    assert.is((error as { status?: number }).status, status);
    return;
  }
  assert.unreachable(`expected HTTP ${status}`);
};

test('no token or a bad token → 401 on every route; Authorization header works', async () => {
  const h = await startHarness(createScriptedRuntime());
  for (const path of ['/ws', '/shell', '/plugin-ws/x', '/nowhere']) {
    await expectStatus(connect(h.url, path, null), 401);
    await expectStatus(connect(h.url, path, 'wrong'), 401);
  }
  const viaHeader = await connect(h.url, '/ws', null, { Authorization: `Bearer ${TOKEN}` });
  await viaHeader.close();
  await h.cleanup();
});

test('a foreign browser Origin → 403; same host, allow-listed and no Origin pass', async () => {
  const h = await startHarness(createScriptedRuntime(), { allowedOrigins: ['https://app.example'] });
  await expectStatus(connect(h.url, '/ws', TOKEN, { Origin: 'https://evil.example' }), 403);
  const same = await connect(h.url, '/ws', TOKEN, { Origin: `http://127.0.0.1:${h.port}` });
  const listed = await connect(h.url, '/ws', TOKEN, { Origin: 'https://app.example' });
  const none = await connect(h.url, '/ws', TOKEN);
  await Promise.all([same.close(), listed.close(), none.close()]);
  await h.cleanup();
});

test('async authenticate and platform mode', async () => {
  const seen: Array<string | null> = [];
  const h = await startHarness(createScriptedRuntime(), {
    verifyClient: {
      isPlatform: true,
      authenticateWebSocket: async (token) => {
        seen.push(token);
        return { id: 'platform-user' };
      },
    },
  });
  const c = await connect(h.url, '/ws', 'ignored');
  assert.equal(seen, [null], 'platform mode calls authenticate(null)');
  await c.close();
  await h.cleanup();
});

test('unknown paths are closed with 4404 Unknown path; /ws/ is unknown too', async () => {
  const h = await startHarness(createScriptedRuntime());
  for (const path of ['/nowhere', '/ws/', '/shell/']) {
    const c = await connect(h.url, path);
    const closed = await c.waitForClose();
    assert.is(closed.code, 4404, path);
    assert.is(closed.reason, 'Unknown path');
  }
  const query = await connect(h.url, '/ws?x=1');
  query.send({ type: 'chat.subscribe', sessions: [{ sessionId: 's' }] });
  await query.waitFor((f) => f.kind === 'chat_subscribed');
  await query.close();
  await h.cleanup();
});

test('token expiry closes the socket with 4401 Token expired', async () => {
  const h = await startHarness(createScriptedRuntime(), {
    verifyClient: { authenticateWebSocket: () => ({ id: 'u', expiresAt: Date.now() + 300 }) },
  });
  const c = await connect(h.url);
  const closed = await c.waitForClose(5000);
  assert.is(closed.code, 4401);
  assert.is(closed.reason, 'Token expired');
  await h.cleanup();
});

test('heartbeat terminates a peer that stops answering pings', async () => {
  const h = await startHarness(createScriptedRuntime(), { limits: { heartbeatIntervalMs: 50 } });
  const silent = new WebSocket(`${h.url}/ws?token=${TOKEN}`, { autoPong: false });
  const closedCode = new Promise<number>((resolve) => silent.once('close', (c) => resolve(c)));
  const healthy = await connect(h.url);
  const code = await closedCode;
  assert.is(code, 1006, 'terminated, no closing handshake');
  assert.is(healthy.ws.readyState, WebSocket.OPEN, 'a peer that answers stays');
  await healthy.close();
  await h.cleanup();
});

test('heartbeat pings are spread over the interval, and every socket is still pinged each interval', async () => {
  // All sockets pinged in one turn stalled every frame behind the pings (bench: scale).
  const interval = 320;
  const h = await startHarness(createScriptedRuntime(), { limits: { heartbeatIntervalMs: interval } });
  const sockets = await Promise.all(Array.from({ length: 32 }, () => connect(h.url)));
  try {
    const pings = sockets.map(() => [] as number[]);
    sockets.forEach((socket, i) => socket.ws.on('ping', () => pings[i].push(performance.now())));
    await until(() => pings.every((times) => times.length >= 3), 10_000, 'three pings on every socket');
    // Within one round, the sockets' pings come over most of the interval, not in one burst.
    const second = pings.map((times) => times[1]);
    assert.ok(Math.max(...second) - Math.min(...second) >= interval / 4, `pings of one round span ${Math.max(...second) - Math.min(...second)} ms`);
    for (const times of pings) assert.ok(times[2] - times[1] < interval * 2, 'each socket pinged about once per interval');
    assert.ok(sockets.every((socket) => socket.ws.readyState === WebSocket.OPEN), 'answering sockets stay');
  } finally {
    await Promise.all(sockets.map((socket) => socket.close()));
    await h.cleanup();
  }
});

test('extra host routes are authenticated and mounted; the handle exposes every socket', async () => {
  const seen: string[] = [];
  const h = await startHarness(createScriptedRuntime(), {
    routes: {
      '/desktop-notifications': (ws, request) => {
        seen.push(String((request.user as { id?: string } | undefined)?.id));
        ws.send(JSON.stringify({ kind: 'hello' }));
      },
    },
  });
  await expectStatus(connect(h.url, '/desktop-notifications', null), 401);
  const c = await connect(h.url, '/desktop-notifications');
  await c.waitFor((f) => f.kind === 'hello');
  assert.equal(seen, ['u1']);
  const chat = await connect(h.url);
  assert.is(h.gateway.clients.size, 2);
  assert.is(h.gateway.wss.clients.size, 2);
  assert.is(h.gateway.connectedClients.size, 1, 'connectedClients holds /ws sockets only');
  await c.close();
  await chat.close();
  await h.cleanup();
});

test('close(): running runs completed with aborted: true, then 1001 to every socket, log flushed', async () => {
  const runtime = createScriptedRuntime();
  runtime.abortAnswer = 'hang';
  const h = await startHarness(runtime);
  const sessionId = h.createSession();
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'text', content: 'a' });
  await c.waitFor((f) => f.seq === 1);
  const closing = h.stop();
  const closed = await c.waitForClose(10_000);
  await closing;
  assert.is(closed.code, 1001);
  assert.is(closed.reason, 'Server shutting down');
  const complete = c.frames.find((f) => f.kind === 'complete');
  assert.is(complete?.aborted, true);
  assert.is(complete?.seq, 2);
  // Restarted on the same file: nothing left running, both events kept.
  const again = await startHarness(createScriptedRuntime(), {}, h.dir);
  const reader = await connect(again.url);
  reader.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 1 }] });
  const ack = await reader.waitFor((f) => f.kind === 'chat_subscribed');
  assert.is(ack.lastSeq, 2);
  assert.is(ack.isProcessing, false);
  await reader.waitFor((f) => f.seq === 2);
  await reader.close();
  await again.cleanup();
  await until(() => true);
});

test.run();
