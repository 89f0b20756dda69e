import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { connectClient, startPluginHarness, type PluginHarness } from './support/pluginHarness.js';
import { closedPort, startUpstream, type TestUpstream } from './support/pluginUpstream.js';
import { waitFor } from './support/pluginWait.js';

/** Relaying over real sockets: frame types, close codes both ways, refused upstreams. */
const test = suite('plugin tunnel relay');

let upstream: TestUpstream | undefined;
let harness: PluginHarness;

const echo = (ws: import('ws').WebSocket) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));

test.after.each(async () => {
  await harness?.close();
  await upstream?.close();
  upstream = undefined;
});

test('dials ws://127.0.0.1:<port>/ws and echoes text as text and binary as binary', async () => {
  upstream = await startUpstream({ onConnection: echo });
  harness = await startPluginHarness({ getPluginPort: (name) => (name === 'echo' ? upstream!.port : null) });
  const client = connectClient(harness.url('/plugin-ws/echo'));
  await client.opened;
  client.ws.send('héllo');
  client.ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
  client.ws.send(Buffer.from('not text'), { binary: true });
  const [text, binary, bytesThatLookLikeText] = await client.frames(3);
  assert.equal(upstream!.upgradePaths, ['/ws']);
  assert.is(text.isBinary, false);
  assert.is(text.data.toString('utf8'), 'héllo');
  assert.is(binary.isBinary, true);
  assert.equal([...binary.data], [0, 1, 2, 255]);
  assert.is(bytesThatLookLikeText.isBinary, true);
  assert.equal(upstream!.received.map((f) => f.isBinary), [false, true, true]);
});

test('upstream close code and reason reach the client (4321)', async () => {
  upstream = await startUpstream({
    onConnection: (ws) => ws.on('message', () => ws.close(4321, 'plugin says bye')),
  });
  harness = await startPluginHarness({ getPluginPort: () => upstream!.port });
  const client = connectClient(harness.url('/plugin-ws/p'));
  await client.opened;
  client.ws.send('close please');
  assert.equal(await client.closed, { code: 4321, reason: 'plugin says bye' });
  await waitFor('tunnel actor gone', () => harness.tunnel(1) === undefined);
});

test('upstream close without a status reaches the client as 1005', async () => {
  upstream = await startUpstream({ onConnection: (ws) => ws.on('message', () => ws.close()) });
  harness = await startPluginHarness({ getPluginPort: () => upstream!.port });
  const client = connectClient(harness.url('/plugin-ws/p'));
  await client.opened;
  client.ws.send('x');
  assert.is((await client.closed).code, 1005);
});

test('upstream that drops the TCP connection: the client gets 1011', async () => {
  upstream = await startUpstream({ onConnection: (ws) => ws.on('message', () => ws.terminate()) });
  harness = await startPluginHarness({ getPluginPort: () => upstream!.port });
  const client = connectClient(harness.url('/plugin-ws/p'));
  await client.opened;
  client.ws.send('x');
  assert.equal(await client.closed, { code: 1011, reason: 'Upstream closed abnormally' });
});

test('client close code and reason reach the upstream (4100)', async () => {
  upstream = await startUpstream({ onConnection: echo });
  harness = await startPluginHarness({ getPluginPort: () => upstream!.port });
  const client = connectClient(harness.url('/plugin-ws/p'));
  await client.opened;
  client.ws.send('ping');
  await client.frames(1);
  client.ws.close(4100, 'user left');
  await client.closed;
  await waitFor('upstream saw the close', () => upstream!.closes.length === 1);
  assert.equal(upstream!.closes[0], { code: 4100, reason: 'user left' });
  await waitFor('tunnel actor gone', () => harness.tunnel(1) === undefined);
});

test('a client that vanishes: the upstream is told 1001', async () => {
  upstream = await startUpstream({ onConnection: echo });
  harness = await startPluginHarness({ getPluginPort: () => upstream!.port });
  const client = connectClient(harness.url('/plugin-ws/p'));
  await client.opened;
  client.ws.send('ping');
  await client.frames(1);
  client.ws.terminate();
  await waitFor('upstream saw the close', () => upstream!.closes.length === 1);
  assert.equal(upstream!.closes[0], { code: 1001, reason: 'Client went away' });
});

test('refused upstream (closed port) closes the client 4502', async () => {
  const port = await closedPort();
  harness = await startPluginHarness({ getPluginPort: () => port });
  const client = connectClient(harness.url('/plugin-ws/p'));
  assert.equal(await client.closed, { code: 4502, reason: 'Upstream error' });
  await waitFor('tunnel actor gone', () => harness.tunnel(1) === undefined);
});

test('an upstream that refuses the upgrade (HTTP 404) closes the client 4502', async () => {
  upstream = await startUpstream({ rejectStatus: 404 });
  harness = await startPluginHarness({ getPluginPort: () => upstream!.port });
  const client = connectClient(harness.url('/plugin-ws/p'));
  assert.equal(await client.closed, { code: 4502, reason: 'Upstream error' });
  assert.equal(upstream!.upgradePaths, ['/ws']);
});

test('a frame from the plugin over pluginMaxPayloadBytes closes the client 4502', async () => {
  upstream = await startUpstream({ onConnection: (ws) => ws.on('message', () => ws.send(Buffer.alloc(2000))) });
  harness = await startPluginHarness({ getPluginPort: () => upstream!.port, limits: { pluginMaxPayloadBytes: 1000 } });
  const client = connectClient(harness.url('/plugin-ws/p'));
  await client.opened;
  client.ws.send('x');
  assert.equal(await client.closed, { code: 4502, reason: 'Upstream error' });
  assert.equal(client.received, []);
});

test('a plugin that is not running closes 4404, sync or async, and without a registry', async () => {
  harness = await startPluginHarness({ getPluginPort: async () => null });
  assert.equal(await connectClient(harness.url('/plugin-ws/nope')).closed, { code: 4404, reason: 'Plugin not running' });
  await harness.close();
  harness = await startPluginHarness({ getPluginPort: () => undefined });
  assert.equal(await connectClient(harness.url('/plugin-ws/nope')).closed, { code: 4404, reason: 'Plugin not running' });
  await harness.close();
  harness = await startPluginHarness({ getPluginPort: () => 70000 });
  assert.is((await connectClient(harness.url('/plugin-ws/nope')).closed).code, 4404);
  await harness.close();
  harness = await startPluginHarness({});
  assert.equal(await connectClient(harness.url('/plugin-ws/nope')).closed, { code: 4404, reason: 'Plugin not running' });
});

test('a registry that throws closes 4502', async () => {
  harness = await startPluginHarness({
    getPluginPort: () => {
      throw new Error('registry down');
    },
  });
  assert.equal(await connectClient(harness.url('/plugin-ws/p')).closed, { code: 4502, reason: 'Upstream error' });
});

test('graceful close(): client and upstream both get 1001 and close() resolves', async () => {
  upstream = await startUpstream({ onConnection: echo });
  harness = await startPluginHarness({ getPluginPort: () => upstream!.port });
  const client = connectClient(harness.url('/plugin-ws/p'));
  await client.opened;
  client.ws.send('x');
  await client.frames(1);
  await harness.route.close();
  assert.equal(await client.closed, { code: 1001, reason: 'Server shutting down' });
  await waitFor('upstream saw the close', () => upstream!.closes.length === 1);
  assert.equal(upstream!.closes[0], { code: 1001, reason: 'Server shutting down' });
  assert.is(harness.tunnel(1), undefined);
});

test.run();
