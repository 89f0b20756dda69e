import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { connectClient, startPluginHarness, type PluginHarness } from './support/pluginHarness.js';
import { startUpstream, type TestUpstream } from './support/pluginUpstream.js';
import { waitFor } from './support/pluginWait.js';

/** The upstream leg's heartbeat, driven by the harness's SimulatedClock. */
const test = suite('plugin tunnel upstream heartbeat');

const INTERVAL = 1000;
let upstream: TestUpstream | undefined;
let harness: PluginHarness | undefined;

test.after.each(async () => {
  await harness?.close();
  await upstream?.close();
  harness = undefined;
  upstream = undefined;
});

async function openTunnel(autoPong: boolean) {
  upstream = await startUpstream({ autoPong });
  const up = upstream;
  harness = await startPluginHarness({ getPluginPort: () => up.port, heartbeatIntervalMs: INTERVAL });
  const h = harness;
  const client = connectClient(h.url('/plugin-ws/beat'));
  await client.opened;
  await waitFor('tunnel open', () => h.tunnel(1)?.getSnapshot().matches('open') === true);
  return { client, up, h };
}

test('an upstream that answers pings keeps the tunnel open', async () => {
  const { client, up, h } = await openTunnel(true);
  for (let beat = 1; beat <= 3; beat++) {
    h.clock.increment(INTERVAL);
    await waitFor(`ping ${beat} reached the upstream`, () => up.pings === beat);
    await waitFor(`pong ${beat} came back`, () => h.tunnelContext(1).awaitingPong === false);
  }
  assert.ok(h.tunnel(1)!.getSnapshot().matches('open'));
  assert.is(client.closeEvent, null);
});

test('an upstream that misses a pong is cut and the client closed 4504', async () => {
  const { client, up, h } = await openTunnel(false);
  h.clock.increment(INTERVAL);
  await waitFor('ping reached the upstream', () => up.pings === 1);
  assert.is(h.tunnelContext(1).awaitingPong, true);
  h.clock.increment(INTERVAL);
  assert.equal(await client.closed, { code: 4504, reason: 'Upstream timeout' });
  await waitFor('upstream connection ended', () => up.closes.length === 1);
  assert.equal(up.closes, [{ code: 1006, reason: '' }], 'terminated, not closed politely');
});

test('heartbeatIntervalMs 0 disables the upstream heartbeat', async () => {
  upstream = await startUpstream({ autoPong: false });
  const up = upstream;
  harness = await startPluginHarness({ getPluginPort: () => up.port, heartbeatIntervalMs: 0 });
  const h = harness;
  const client = connectClient(h.url('/plugin-ws/beat'));
  await client.opened;
  await waitFor('tunnel open', () => h.tunnel(1)?.getSnapshot().matches('open') === true);
  h.clock.increment(60_000);
  client.ws.send('still here');
  await waitFor('frame relayed', () => up.received.length === 1);
  assert.is(up.pings, 0);
  assert.ok(h.tunnel(1)!.getSnapshot().matches('open'));
});

test.run();
