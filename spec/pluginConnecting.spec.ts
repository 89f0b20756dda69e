import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { connectClient, startPluginHarness, type PluginHarness } from './support/pluginHarness.js';
import { startUpstream, type TestUpstream } from './support/pluginUpstream.js';
import { waitFor } from './support/pluginWait.js';

/** Before the upstream opens: the queue, its bounds, the connect timeout and aborting on client exit. */
const test = suite('plugin tunnel while connecting');

let upstream: TestUpstream | undefined;
let harness: PluginHarness | undefined;

test.after.each(async () => {
  await harness?.close();
  await upstream?.close();
  harness = undefined;
  upstream = undefined;
});

const slowUpstream = () =>
  startUpstream({
    holdHandshake: true,
    onConnection: (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })),
  });

test('frames sent before the upstream opens arrive in order, types kept', async () => {
  upstream = await slowUpstream();
  const up = upstream;
  harness = await startPluginHarness({ getPluginPort: () => up.port });
  const client = connectClient(harness.url('/plugin-ws/slow'));
  await client.opened;
  await waitFor('upstream got the upgrade request', () => up.upgradePaths.length === 1);
  for (let i = 0; i < 50; i++) client.ws.send(i % 2 ? Buffer.from([i]) : `text ${i}`, { binary: i % 2 === 1 });
  await waitFor('all 50 frames queued', () => harness!.tunnelContext(1).queue.length === 50);
  assert.ok(harness.tunnel(1)!.getSnapshot().matches('connecting'));
  up.acceptPending();
  await waitFor('upstream received 50 frames', () => up.received.length === 50);
  up.received.forEach((frame, i) => {
    assert.is(frame.isBinary, i % 2 === 1, `frame ${i} type`);
    if (i % 2) assert.equal([...frame.data], [i]);
    else assert.is(frame.data.toString(), `text ${i}`);
  });
  client.ws.send('after open');
  await waitFor('live frame after the queued ones', () => up.received.length === 51);
  assert.is(up.received[50].data.toString(), 'after open');
  assert.is(harness.tunnelContext(1).queue.length, 0);
});

test('frames sent while the port lookup is pending are queued too', async () => {
  upstream = await startUpstream({});
  const up = upstream;
  let answer: (port: number) => void = () => {};
  harness = await startPluginHarness({ getPluginPort: () => new Promise<number>((resolve) => (answer = resolve)) });
  const client = connectClient(harness.url('/plugin-ws/lazy'));
  await client.opened;
  client.ws.send('one');
  client.ws.send('two');
  await waitFor('two frames queued', () => harness!.tunnelContext(1).queue.length === 2);
  answer(up.port);
  await waitFor('upstream received both', () => up.received.length === 2);
  assert.equal(up.received.map((f) => f.data.toString()), ['one', 'two']);
});

test('connect timeout (SimulatedClock): client closed 4504, upstream handshake aborted', async () => {
  upstream = await slowUpstream();
  const up = upstream;
  harness = await startPluginHarness({ getPluginPort: () => up.port, limits: { pluginConnectTimeoutMs: 10_000 } });
  const client = connectClient(harness.url('/plugin-ws/slow'));
  await client.opened;
  await waitFor('upstream got the upgrade request', () => up.upgradePaths.length === 1);
  harness.clock.increment(9_999);
  assert.ok(harness.tunnel(1)!.getSnapshot().matches('connecting'), 'still connecting 1 ms before the timeout');
  harness.clock.increment(1);
  assert.equal(await client.closed, { code: 4504, reason: 'Upstream timeout' });
  await waitFor('upstream TCP socket closed', () => up.tcpClosed === up.tcpOpened && up.tcpOpened === 1);
});

test('a client that leaves while the upstream is connecting aborts the upstream (no leak)', async () => {
  upstream = await slowUpstream();
  const up = upstream;
  harness = await startPluginHarness({ getPluginPort: () => up.port });
  const client = connectClient(harness.url('/plugin-ws/slow'));
  await client.opened;
  await waitFor('upstream got the upgrade request', () => up.upgradePaths.length === 1);
  assert.is(up.tcpClosed, 0);
  client.ws.close(1000);
  await client.closed;
  await waitFor('upstream TCP socket closed', () => up.tcpClosed === 1);
  await waitFor('tunnel actor gone', () => harness!.tunnel(1) === undefined);
  up.acceptPending();
  assert.is(up.connections.length, 0, 'no WebSocket ever opened upstream');
});

test('graceful close() while connecting: client 1001, upstream handshake aborted', async () => {
  upstream = await slowUpstream();
  const up = upstream;
  harness = await startPluginHarness({ getPluginPort: () => up.port });
  const client = connectClient(harness.url('/plugin-ws/slow'));
  await client.opened;
  await waitFor('upstream got the upgrade request', () => up.upgradePaths.length === 1);
  await harness.route.close();
  assert.equal(await client.closed, { code: 1001, reason: 'Server shutting down' });
  await waitFor('upstream TCP socket closed', () => up.tcpClosed === 1);
  const late = connectClient(harness.url('/plugin-ws/slow'));
  assert.equal(await late.closed, { code: 1001, reason: 'Server shutting down' }, 'no new tunnel after close()');
});

test('queue over its frame bound closes the client 1008 and aborts the upstream', async () => {
  upstream = await slowUpstream();
  const up = upstream;
  harness = await startPluginHarness({ getPluginPort: () => up.port, limits: { pluginQueueMaxFrames: 5 } });
  const client = connectClient(harness.url('/plugin-ws/slow'));
  await client.opened;
  await waitFor('upstream got the upgrade request', () => up.upgradePaths.length === 1);
  for (let i = 0; i < 5; i++) client.ws.send(`f${i}`);
  await waitFor('five frames queued', () => harness!.tunnelContext(1).queue.length === 5);
  assert.is(client.closeEvent, null, 'the bound itself is allowed');
  client.ws.send('one too many');
  assert.equal(await client.closed, { code: 1008, reason: 'Tunnel queue full' });
  await waitFor('upstream TCP socket closed', () => up.tcpClosed === 1);
});

test('queue over its byte bound closes the client 1008', async () => {
  upstream = await slowUpstream();
  const up = upstream;
  harness = await startPluginHarness({ getPluginPort: () => up.port, limits: { pluginQueueMaxBytes: 1000 } });
  const client = connectClient(harness.url('/plugin-ws/slow'));
  await client.opened;
  client.ws.send(Buffer.alloc(600), { binary: true });
  client.ws.send(Buffer.alloc(400), { binary: true });
  await waitFor('1000 bytes queued', () => harness!.tunnelContext(1).queuedBytes === 1000);
  client.ws.send(Buffer.alloc(1), { binary: true });
  assert.equal(await client.closed, { code: 1008, reason: 'Tunnel queue full' });
});

test.run();
