import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { WebSocket } from 'ws';

import { connectClient, startPluginHarness, type PluginHarness } from './support/pluginHarness.js';
import { startUpstream, type TestUpstream } from './support/pluginUpstream.js';
import { waitFor } from './support/pluginWait.js';

/**
 * Back-pressure both ways, asserted on buffer sizes and paused flags, never on timing: a sender
 * floods until its OWN buffer backs up (the proof that the gateway stopped reading it), with a
 * hard cap on the total so a gateway that never pushes back fails instead of hanging.
 */
const test = suite('plugin tunnel back-pressure');

const KiB = 1024;
const MiB = 1024 * KiB;
const HIGH = 256 * KiB;
const LOW = 64 * KiB;
const CHUNK = 64 * KiB;
/** A sender whose own buffer passes this has been pushed back. */
const BACKED_UP = 1 * MiB;
/** Far beyond what loopback kernel buffers can absorb: reaching it means nobody pushed back. */
const FLOOD_CAP = 256 * MiB;

let upstream: TestUpstream | undefined;
let harness: PluginHarness | undefined;

test.after.each(async () => {
  await harness?.close();
  await upstream?.close();
  harness = undefined;
  upstream = undefined;
});

const chunk = (index: number) => {
  const data = Buffer.alloc(CHUNK, index % 251);
  data.writeUInt32BE(index, 0);
  return data;
};

/** Sends numbered chunks until `ws` itself buffers BACKED_UP bytes (or the cap); resolves the count. */
function flood(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    let sent = 0;
    const step = () => {
      while (ws.bufferedAmount < BACKED_UP && sent * CHUNK < FLOOD_CAP) {
        ws.send(chunk(sent++), { binary: true });
        if (sent % 16 === 0) return setImmediate(step);
      }
      resolve(sent);
    };
    step();
  });
}

const limits = { pluginHighWaterMarkBytes: HIGH, pluginLowWaterMarkBytes: LOW };

test('a client that does not read: the upstream is paused and gateway memory stays bounded', async () => {
  let upstreamSocket: WebSocket | undefined;
  let sent: Promise<number> | undefined;
  upstream = await startUpstream({
    onConnection: (ws) => {
      upstreamSocket = ws;
      ws.on('message', () => (sent = flood(ws)));
    },
  });
  const up = upstream;
  harness = await startPluginHarness({ getPluginPort: () => up.port, limits });
  const client = connectClient(harness.url('/plugin-ws/firehose'));
  await client.opened;
  client.ws.pause();
  client.ws.send('go');
  await waitFor('the flood started', () => sent !== undefined);
  const total = await sent!;

  assert.ok(total * CHUNK < FLOOD_CAP, `the plugin was pushed back (sent ${total} chunks)`);
  // Kernel buffers may still grow and let the tunnel resume for a while; it settles paused.
  await waitFor('the tunnel paused its upstream', () => harness!.tunnelContext(1).upstreamPaused);
  const gatewayBuffered = harness.serverSockets[0].bufferedAmount;
  assert.ok(gatewayBuffered <= HIGH + 4 * CHUNK, `gateway buffers ${gatewayBuffered} bytes for the client`);

  client.ws.resume();
  await waitFor('every chunk reached the client', () => client.received.length === total, 30_000);
  client.received.forEach((frame, i) => assert.is(frame.data.readUInt32BE(0), i));
  await waitFor('upstream resumed', () => harness!.tunnelContext(1).upstreamPaused === false);
});

test('an upstream that does not read: the client is paused and gateway memory stays bounded', async () => {
  let upstreamSocket: WebSocket | undefined;
  upstream = await startUpstream({
    onConnection: (ws) => {
      upstreamSocket = ws;
      ws.pause();
    },
  });
  const up = upstream;
  harness = await startPluginHarness({ getPluginPort: () => up.port, limits });
  const client = connectClient(harness.url('/plugin-ws/sink'));
  await client.opened;
  await waitFor('tunnel open', () => harness!.tunnel(1)?.getSnapshot().matches('open') === true);
  await waitFor('upstream connected', () => upstreamSocket !== undefined);
  const total = await flood(client.ws);

  assert.ok(total * CHUNK < FLOOD_CAP, `the client was pushed back (sent ${total} chunks)`);
  await waitFor('the tunnel paused its client', () => harness!.tunnelContext(1).clientPaused);
  assert.is(harness.serverSockets[0].isPaused, true, 'the gateway stopped reading the client socket');

  upstreamSocket!.resume();
  await waitFor('every chunk reached the upstream', () => up.received.length === total, 30_000);
  up.received.forEach((frame, i) => assert.is(frame.data.readUInt32BE(0), i));
  await waitFor('client resumed', () => harness!.tunnelContext(1).clientPaused === false);
  assert.is(harness.serverSockets[0].isPaused, false);
});

test.run();
