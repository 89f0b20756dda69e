import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';

import { pluginTunnelMachine } from '../machines/pluginTunnel.machine.js';
import type {
  ClientLegInput,
  LegCommand,
  PluginPortResult,
  PluginTunnelSettings,
  UpstreamLegInput,
} from '../machines/pluginTunnel.types.js';

/** The statechart alone, with recording legs and a SimulatedClock: no sockets. */
const test = suite('pluginTunnel.machine');

const SETTINGS: PluginTunnelSettings = {
  queueMaxBytes: 100,
  queueMaxFrames: 3,
  connectTimeoutMs: 10_000,
  heartbeatIntervalMs: 1000,
  closeTimeoutMs: 5000,
};

type Port = number | null | Error;

function startTunnel(options: { port?: Port; settings?: Partial<PluginTunnelSettings> } = {}) {
  const commands: Record<'client' | 'upstream', LegCommand[]> = { client: [], upstream: [] };
  const stopped: string[] = [];
  const leg = <TInput>(side: 'client' | 'upstream') =>
    fromCallback<LegCommand, TInput>(({ receive }) => {
      receive((command) => commands[side].push(command));
      return () => stopped.push(side);
    });
  const port = options.port === undefined ? 4000 : options.port;
  const machine = pluginTunnelMachine.provide({
    actors: {
      clientLeg: leg<ClientLegInput>('client'),
      upstreamLeg: leg<UpstreamLegInput>('upstream'),
      resolvePluginPort: fromPromise<PluginPortResult, { name: string }>(async () => {
        if (port instanceof Error) throw port;
        return port;
      }),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, {
    clock,
    input: { tunnelId: 'tunnel:t', name: 'p', settings: { ...SETTINGS, ...options.settings } },
  });
  actor.start();
  const state = () => actor.getSnapshot();
  const sent = (side: 'client' | 'upstream') =>
    commands[side].filter((c) => c.type === 'leg.send').map((c) => Buffer.from((c as { data: Uint8Array }).data).toString());
  const closes = (side: 'client' | 'upstream') => commands[side].filter((c) => c.type === 'leg.close');
  const text = (type: 'client.message' | 'upstream.message', body: string) =>
    actor.send({ type, data: Buffer.from(body), isBinary: false });
  return { actor, clock, commands, stopped, state, sent, closes, text };
}

/** Lets the port lookup promise settle. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function openTunnel(options: Parameters<typeof startTunnel>[0] = {}) {
  const t = startTunnel(options);
  await settle();
  t.actor.send({ type: 'upstream.opened' });
  assert.ok(t.state().matches('open'));
  return t;
}

test('queues client frames until the upstream opens, then delivers them first and in order', async () => {
  const t = startTunnel();
  t.text('client.message', 'a');
  await settle();
  assert.ok(t.state().matches({ connecting: 'dialing' }));
  t.text('client.message', 'b');
  assert.equal(t.sent('upstream'), []);
  t.actor.send({ type: 'upstream.opened' });
  t.text('client.message', 'c');
  assert.equal(t.sent('upstream'), ['a', 'b', 'c']);
  assert.is(t.state().context.queue.length, 0);
  t.text('upstream.message', 'reply');
  assert.equal(t.sent('client'), ['reply']);
});

test('queue bounds: frames and bytes, over either closes the client 1008 and aborts the upstream', async () => {
  const byFrames = startTunnel();
  await settle();
  for (const body of ['1', '2', '3']) byFrames.text('client.message', body);
  assert.ok(byFrames.state().matches('connecting'));
  byFrames.text('client.message', '4');
  assert.equal(byFrames.closes('client'), [{ type: 'leg.close', code: 1008, reason: 'Tunnel queue full' }]);
  assert.ok(byFrames.stopped.includes('upstream'));
  assert.ok(byFrames.state().matches('closing'));

  const byBytes = startTunnel();
  byBytes.actor.send({ type: 'client.message', data: new Uint8Array(100), isBinary: true });
  assert.ok(byBytes.state().matches('connecting'));
  byBytes.actor.send({ type: 'client.message', data: new Uint8Array(1), isBinary: true });
  assert.equal(byBytes.closes('client')[0], { type: 'leg.close', code: 1008, reason: 'Tunnel queue full' });
});

test('not running → 4404; lookup throws → 4502; the upstream is never dialled', async () => {
  const missing = startTunnel({ port: null });
  await settle();
  assert.equal(missing.closes('client'), [{ type: 'leg.close', code: 4404, reason: 'Plugin not running' }]);
  assert.ok(missing.state().matches('closing'));
  assert.is(missing.state().children.upstream, undefined);
  missing.actor.send({ type: 'client.closed', code: 4404, reason: 'Plugin not running' });
  assert.is(missing.state().status, 'done');
  assert.ok(missing.stopped.includes('client'));

  const broken = startTunnel({ port: new Error('registry down') });
  await settle();
  assert.equal(broken.closes('client'), [{ type: 'leg.close', code: 4502, reason: 'Upstream error' }]);
});

test('connect timeout is a named delay: 4504 at exactly connectTimeoutMs; 0 waits forever', async () => {
  const t = startTunnel();
  await settle();
  t.clock.increment(9999);
  assert.ok(t.state().matches('connecting'));
  t.clock.increment(1);
  assert.equal(t.closes('client'), [{ type: 'leg.close', code: 4504, reason: 'Upstream timeout' }]);
  assert.ok(t.stopped.includes('upstream'));

  const patient = startTunnel({ settings: { connectTimeoutMs: 0 } });
  await settle();
  patient.clock.increment(24 * 3600_000);
  assert.ok(patient.state().matches('connecting'));
});

test('the client leaving while connecting aborts the upstream and ends the tunnel', async () => {
  const t = startTunnel();
  await settle();
  t.actor.send({ type: 'client.closed', code: 1001, reason: '' });
  assert.is(t.state().status, 'done');
  assert.equal(t.commands.upstream, [], 'aborted, not closed politely');
  assert.ok(t.stopped.includes('upstream'));
});

test('close mapping in both directions, then closed once both legs report', async () => {
  const cases: Array<[number, string, Record<string, unknown>]> = [
    [4321, 'bye', { code: 4321, reason: 'bye' }],
    [1000, 'done', { code: 1000, reason: 'done' }],
    [1005, '', {}],
    [1006, '', { code: 1011, reason: 'Upstream closed abnormally' }],
    [3000, 'x', { code: 1011, reason: 'Upstream closed with 3000' }],
  ];
  for (const [code, reason, expected] of cases) {
    const t = await openTunnel();
    t.actor.send({ type: 'upstream.closed', code, reason });
    assert.equal(t.closes('client'), [{ type: 'leg.close', ...expected }], `upstream ${code}`);
    assert.ok(t.state().matches('closing'));
    t.actor.send({ type: 'client.closed', code, reason });
    assert.is(t.state().status, 'done');
  }
  const fromClient = await openTunnel();
  fromClient.actor.send({ type: 'client.closed', code: 1006, reason: '' });
  assert.equal(fromClient.closes('upstream'), [{ type: 'leg.close', code: 1001, reason: 'Client went away' }]);
  fromClient.actor.send({ type: 'upstream.closed', code: 1001, reason: 'Client went away' });
  assert.is(fromClient.state().status, 'done');
});

test('closing gives up after closeTimeoutMs and stops both legs', async () => {
  const t = await openTunnel();
  t.actor.send({ type: 'upstream.closed', code: 4000, reason: '' });
  t.clock.increment(4999);
  assert.ok(t.state().matches('closing'));
  t.clock.increment(1);
  assert.is(t.state().status, 'done');
  assert.equal(t.stopped.sort(), ['client', 'upstream']);
});

test('back-pressure: each side pauses the other and closing resumes both', async () => {
  const t = await openTunnel();
  t.actor.send({ type: 'client.congested' });
  t.actor.send({ type: 'upstream.congested' });
  assert.equal(t.commands.upstream.map((c) => c.type), ['leg.pause']);
  assert.equal(t.commands.client.map((c) => c.type), ['leg.pause']);
  t.actor.send({ type: 'client.drained' });
  assert.equal(t.commands.upstream.map((c) => c.type), ['leg.pause', 'leg.resume']);
  assert.is(t.state().context.clientPaused, true);
  t.actor.send({ type: 'gateway.shutdown' });
  assert.equal(t.commands.client.map((c) => c.type), ['leg.pause', 'leg.close', 'leg.resume']);
  assert.equal(t.closes('upstream'), [{ type: 'leg.close', code: 1001, reason: 'Server shutting down' }]);
});

test('heartbeat: ping each interval, a missed pong ends the tunnel 4504, a paused upstream is not judged', async () => {
  const t = await openTunnel();
  t.clock.increment(1000);
  assert.equal(t.commands.upstream.map((c) => c.type), ['leg.ping']);
  t.actor.send({ type: 'upstream.pong' });
  t.clock.increment(1000);
  assert.equal(t.commands.upstream.map((c) => c.type), ['leg.ping', 'leg.ping']);
  // No pong, but we stopped reading the upstream: its pong may be sitting unread.
  t.actor.send({ type: 'client.congested' });
  t.clock.increment(1000);
  t.clock.increment(1000);
  assert.ok(t.state().matches('open'));
  t.actor.send({ type: 'client.drained' });
  t.clock.increment(1000);
  assert.equal(t.closes('client'), [{ type: 'leg.close', code: 4504, reason: 'Upstream timeout' }]);
  assert.ok(t.stopped.includes('upstream'));
});

test('an upstream error closes the client 4502; a crashed leg ends the tunnel instead of the system', async () => {
  const t = await openTunnel();
  t.actor.send({ type: 'upstream.failed', message: 'boom' });
  assert.equal(t.closes('client'), [{ type: 'leg.close', code: 4502, reason: 'Upstream error' }]);
  assert.ok(t.stopped.includes('upstream'));

  const crashing = pluginTunnelMachine.provide({
    actors: {
      clientLeg: fromCallback<LegCommand, ClientLegInput>(() => () => {}),
      upstreamLeg: fromCallback<LegCommand, UpstreamLegInput>(() => {
        throw new Error('leg bug');
      }),
      resolvePluginPort: fromPromise<PluginPortResult, { name: string }>(async () => 4000),
    },
  });
  const actor = createActor(crashing, { input: { tunnelId: 't', name: 'p', settings: SETTINGS } });
  actor.start();
  await settle();
  assert.is(actor.getSnapshot().status, 'active');
  assert.ok(actor.getSnapshot().matches('closing'));
  assert.equal(actor.getSnapshot().context.clientClose, { code: 4502, reason: 'Upstream error' });
  actor.stop();
});

test('an unprovided leg ends the tunnel inside start() (the route then reports a failed spawn)', () => {
  const actor = createActor(pluginTunnelMachine, { input: { tunnelId: 't', name: 'p', settings: SETTINGS } });
  actor.start();
  assert.is(actor.getSnapshot().status, 'done');
});

test.run();
