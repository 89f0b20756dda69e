/**
 * The plugin tunnel under model-based test, with fake legs that keep every command they get and
 * a port lookup the path settles. Walked twice: with a connect timeout and heartbeat, and with
 * both switched off (0), since guards read them. Invariants: each leg is told to close at most
 * once; client frames reach the upstream in order, queued ones first, none twice, and a queue
 * that was dropped never arrives; upstream frames reach the client in order; pause and resume
 * alternate on each leg; nothing stays paused once the tunnel is closing.
 */
import { createActor, fromCallback, fromPromise, SimulatedClock, type AnyEventObject } from 'xstate';

import { pluginTunnelMachine, type PluginTunnelContext } from '../../machines/pluginTunnel.machine.js';
import type { LegCommand, PluginPortResult, PluginTunnelInput } from '../../machines/pluginTunnel.types.js';
import { afterDelay, deferred, invariant, settle, type Deferred, type MachineModel, type PathStep, type Snapshot } from './pathCoverage.js';

const settings = { queueMaxBytes: 8, queueMaxFrames: 2, connectTimeoutMs: 1000, heartbeatIntervalMs: 500, closeTimeoutMs: 300 };
const withTimers: PluginTunnelInput = { tunnelId: 'tunnel:1', name: 'echo', settings };
const withoutTimers: PluginTunnelInput = { tunnelId: 'tunnel:1', name: 'echo', settings: { ...settings, connectTimeoutMs: 0, heartbeatIntervalMs: 0 } };

const noop = fromCallback<LegCommand, unknown>(() => () => {});
const traversal = pluginTunnelMachine.provide({
  actors: { clientLeg: noop as never, upstreamLeg: noop as never, resolvePluginPort: fromPromise<PluginPortResult, { name: string }>(() => new Promise(() => {})) },
});

const resolvingNode = pluginTunnelMachine.getStateNodeById('pluginTunnel.connecting.resolvingPort');
const PORT_INVOKE = resolvingNode.invoke[0].id;
const afterOf = (id: string) => pluginTunnelMachine.getStateNodeById(id).after[0].eventType;
const CONNECT_TIMEOUT = afterOf('pluginTunnel.connecting');
const HEARTBEAT = afterOf('pluginTunnel.open.heartbeat');
const CLOSE_TIMEOUT = afterOf('pluginTunnel.closing');
const TIMERS = new Set<string>([CONNECT_TIMEOUT, HEARTBEAT, CLOSE_TIMEOUT]);

const context = (snapshot: Snapshot) => snapshot.context as PluginTunnelContext;
const bytes = (text: string) => Buffer.from(text);
const text = (data: Uint8Array) => Buffer.from(data).toString();
let serial = 0;

export const pluginTunnelModel: MachineModel = {
  name: 'pluginTunnel',
  machine: pluginTunnelMachine,
  traversal,
  configurations: [
    { label: 'connect timeout and heartbeat on', input: withTimers },
    { label: 'connect timeout and heartbeat off', input: withoutTimers },
  ],

  serializeState(snapshot) {
    const c = context(snapshot);
    return JSON.stringify([
      snapshot.value,
      c.port !== null,
      Math.min(c.queue.length, 2),
      c.clientLive,
      c.upstreamLive,
      c.clientPaused,
      c.upstreamPaused,
      c.awaitingPong,
      c.clientClose !== null,
      c.upstreamClose !== null,
    ]);
  },

  events(snapshot) {
    if (snapshot.status !== 'active') return [];
    const c = context(snapshot);
    const events: AnyEventObject[] = [{ type: 'gateway.shutdown' }];
    if (snapshot.matches({ connecting: 'resolvingPort' })) {
      events.push({ type: `xstate.done.actor.${PORT_INVOKE}`, output: 4321, actorId: PORT_INVOKE });
      events.push({ type: `xstate.done.actor.${PORT_INVOKE}`, output: null, actorId: PORT_INVOKE });
      events.push({ type: `xstate.error.actor.${PORT_INVOKE}`, error: new Error('lookup failed'), actorId: PORT_INVOKE });
    }
    if (c.clientLive) {
      events.push({ type: 'client.message', data: bytes(`c${++serial}`), isBinary: false });
      events.push({ type: 'client.message', data: bytes('too big for the queue'), isBinary: true });
      events.push({ type: 'client.closed', code: 4000, reason: 'bye' });
      events.push({ type: 'client.congested' }, { type: 'client.drained' });
      events.push({ type: 'xstate.error.actor.client', error: new Error('client leg failed'), actorId: 'client' });
    }
    if (c.upstreamLive) {
      if (snapshot.matches({ connecting: 'dialing' })) events.push({ type: 'upstream.opened' });
      events.push({ type: 'upstream.message', data: bytes(`u${++serial}`), isBinary: false });
      events.push({ type: 'upstream.closed', code: 4321, reason: 'plugin done' });
      events.push({ type: 'upstream.failed', message: 'reset' });
      events.push({ type: 'upstream.congested' }, { type: 'upstream.drained' }, { type: 'upstream.pong' });
      events.push({ type: 'xstate.error.actor.upstream', error: new Error('upstream leg failed'), actorId: 'upstream' });
    }
    if (snapshot.matches('connecting')) events.push({ type: CONNECT_TIMEOUT });
    if (snapshot.matches({ open: 'heartbeat' })) events.push({ type: HEARTBEAT });
    if (snapshot.matches('closing')) events.push({ type: CLOSE_TIMEOUT });
    return events;
  },

  async execute(steps: PathStep[], configuration, inspect) {
    const clock = new SimulatedClock();
    const sent = { client: [] as LegCommand[], upstream: [] as LegCommand[] };
    const lookup: { port: Deferred<PluginPortResult> | null } = { port: null };
    const leg = (side: 'client' | 'upstream') =>
      fromCallback<LegCommand, unknown>(({ receive }) => {
        receive((command) => void sent[side].push(command));
        return () => {};
      });
    const tunnel = createActor(
      pluginTunnelMachine.provide({
        actors: {
          clientLeg: leg('client') as never,
          upstreamLeg: leg('upstream') as never,
          resolvePluginPort: fromPromise<PluginPortResult, { name: string }>(() => (lookup.port = deferred<PluginPortResult>()).promise),
        },
      }),
      { input: configuration.input as PluginTunnelInput, clock, inspect },
    );
    tunnel.start();
    /** Client frames the upstream must get, in order; `pending` while queued before the open. */
    const toUpstream: string[] = [];
    let pending: string[] = [];
    const toClient: string[] = [];

    for (const step of steps) {
      const before = tunnel.getSnapshot() as Snapshot;
      const { event } = step;
      if (event.type.startsWith(`xstate.done.actor.${PORT_INVOKE}`) || event.type.startsWith(`xstate.error.actor.${PORT_INVOKE}`)) {
        const port = lookup.port;
        invariant(port, 'the port lookup was invoked');
        if (event.type.startsWith('xstate.done')) port.resolve((event as { output?: PluginPortResult }).output ?? null);
        else port.reject((event as { error?: unknown }).error);
        await settle();
      } else if (TIMERS.has(event.type)) {
        clock.increment(afterDelay(pluginTunnelMachine, event.type, context(before) as never));
      } else {
        tunnel.send(event as never);
      }

      const live = tunnel.getSnapshot() as Snapshot;
      invariant(JSON.stringify(live.value) === JSON.stringify(step.state.value), `live state ${JSON.stringify(live.value)}, model says ${JSON.stringify(step.state.value)}`);
      if (event.type === 'client.message') {
        const data = text((event as unknown as { data: Uint8Array }).data);
        if (before.matches('open')) toUpstream.push(data);
        else if (live.matches('connecting')) pending.push(data);
      }
      if (event.type === 'upstream.message' && before.matches('open')) toClient.push(text((event as unknown as { data: Uint8Array }).data));
      if (before.matches('connecting') && live.matches('open')) {
        toUpstream.push(...pending);
        pending = [];
      }
      if (before.matches('connecting') && !live.matches('connecting')) pending = [];

      const relayed = (side: 'client' | 'upstream') =>
        sent[side].filter((command): command is Extract<LegCommand, { type: 'leg.send' }> => command.type === 'leg.send').map((command) => text(command.data));
      invariant(JSON.stringify(relayed('upstream')) === JSON.stringify(toUpstream), `upstream got ${JSON.stringify(relayed('upstream'))}, expected ${JSON.stringify(toUpstream)}`);
      invariant(JSON.stringify(relayed('client')) === JSON.stringify(toClient), `client got ${JSON.stringify(relayed('client'))}, expected ${JSON.stringify(toClient)}`);
      for (const side of ['client', 'upstream'] as const) {
        invariant(sent[side].filter((command) => command.type === 'leg.close').length <= 1, `the ${side} leg was told to close twice`);
        const flow = sent[side].filter((command) => command.type === 'leg.pause' || command.type === 'leg.resume').map((command) => command.type);
        flow.forEach((type, index) => invariant(type === (index % 2 === 0 ? 'leg.pause' : 'leg.resume'), `${side} pause/resume out of turn: ${flow.join(', ')}`));
      }
      if (live.matches('closing')) {
        const c = context(live);
        invariant(!(c.clientLive && c.clientPaused) && !(c.upstreamLive && c.upstreamPaused), 'a closing tunnel reads both legs');
      }
    }
    tunnel.stop();
  },
};
