import {
  assertEvent,
  assign,
  enqueueActions,
  setup,
  spawnChild,
  stopChild,
  type CallbackActorLogic,
  type PromiseActorLogic,
} from 'xstate';

import { PLUGIN_CLOSE, closeForClient, closeForUpstream, type CloseInstruction } from './pluginTunnel.closeCodes.js';
import type {
  ClientLegInput,
  LegCommand,
  PluginPortResult,
  PluginTunnelEvent,
  PluginTunnelInput,
  PluginTunnelSettings,
  TunnelFrame,
  UpstreamLegInput,
} from './pluginTunnel.types.js';

/**
 * One `/plugin-ws/<name>` tunnel: a client socket relayed to the plugin's own WebSocket server.
 *
 *   connecting (resolvingPort → dialing) → open → closing → closed
 *
 * The two sockets are legs supplied by the gateway: `clientLeg` (invoked for the tunnel's whole
 * life) and `upstreamLeg` (spawned once the port is known, stopped to abort it). The machine owns
 * the pre-open queue, the close-code mapping, who pauses whom under back-pressure, the connect
 * timeout and the upstream heartbeat.
 */

export interface PluginTunnelContext {
  tunnelId: string;
  name: string;
  settings: PluginTunnelSettings;
  port: number | null;
  /** Client frames received before the upstream opened, oldest first. */
  queue: TunnelFrame[];
  queuedBytes: number;
  /** The client socket has not reported its close yet. */
  clientLive: boolean;
  /** The upstream leg exists and has not reported its close (or been aborted). */
  upstreamLive: boolean;
  /** We stopped reading the client because the upstream's send buffer is over its high-water mark. */
  clientPaused: boolean;
  /** We stopped reading the upstream because the client's send buffer is over its high-water mark. */
  upstreamPaused: boolean;
  /** A heartbeat ping went upstream and no pong has come back yet. */
  awaitingPong: boolean;
  /** What the client was told when the tunnel closed (null until then). */
  clientClose: CloseInstruction | null;
  /** What the upstream was told when the tunnel closed (null until then, or when it was aborted). */
  upstreamClose: CloseInstruction | null;
}

/** Stands in for an adapter until the gateway provides it: spawning it throws, so a missing wiring fails loudly. */
function notProvided<TLogic>(name: string): TLogic {
  const fail = (): never => {
    throw new Error(`pluginTunnel.machine: actor "${name}" was not provided`);
  };
  return { config: undefined, transition: fail, getInitialSnapshot: fail, getPersistedSnapshot: fail } as unknown as TLogic;
}

const frameOf = (event: TunnelFrame): TunnelFrame => ({ data: event.data, isBinary: event.isBinary });

export const pluginTunnelMachine = setup({
  types: {
    context: {} as PluginTunnelContext,
    events: {} as PluginTunnelEvent,
    input: {} as PluginTunnelInput,
  },
  actors: {
    clientLeg: notProvided<CallbackActorLogic<LegCommand, ClientLegInput>>('clientLeg'),
    upstreamLeg: notProvided<CallbackActorLogic<LegCommand, UpstreamLegInput>>('upstreamLeg'),
    resolvePluginPort: notProvided<PromiseActorLogic<PluginPortResult, { name: string }>>('resolvePluginPort'),
  },
  delays: {
    upstreamConnectTimeout: ({ context }) => context.settings.connectTimeoutMs,
    upstreamHeartbeat: ({ context }) => context.settings.heartbeatIntervalMs,
    closeTimeout: ({ context }) => context.settings.closeTimeoutMs,
  },
  guards: {
    queueHasRoom: ({ context, event }) => {
      assertEvent(event, 'client.message');
      return (
        context.queue.length + 1 <= context.settings.queueMaxFrames &&
        context.queuedBytes + event.data.byteLength <= context.settings.queueMaxBytes
      );
    },
    connectTimeoutEnabled: ({ context }) => context.settings.connectTimeoutMs > 0,
    heartbeatDisabled: ({ context }) => context.settings.heartbeatIntervalMs <= 0,
    // A paused upstream cannot deliver its pong, so silence then proves nothing.
    upstreamMissedPong: ({ context }) => context.awaitingPong && !context.upstreamPaused,
    upstreamReadPaused: ({ context }) => context.upstreamPaused,
    bothLegsClosed: ({ context }) => !context.clientLive && !context.upstreamLive,
  },
  actions: {
    enqueueFrame: assign(({ context, event }) => {
      assertEvent(event, 'client.message');
      return { queue: [...context.queue, frameOf(event)], queuedBytes: context.queuedBytes + event.data.byteLength };
    }),
    flushQueue: enqueueActions(({ context, enqueue }) => {
      for (const frame of context.queue) enqueue.sendTo('upstream', { type: 'leg.send', ...frame } satisfies LegCommand);
      enqueue.assign({ queue: [], queuedBytes: 0 });
    }),
    dropQueue: assign({ queue: [], queuedBytes: 0 }),
    relayToUpstream: enqueueActions(({ event, enqueue }) => {
      assertEvent(event, 'client.message');
      enqueue.sendTo('upstream', { type: 'leg.send', ...frameOf(event) } satisfies LegCommand);
    }),
    relayToClient: enqueueActions(({ event, enqueue }) => {
      assertEvent(event, 'upstream.message');
      enqueue.sendTo('client', { type: 'leg.send', ...frameOf(event) } satisfies LegCommand);
    }),
    startUpstream: enqueueActions(({ context, enqueue }) => {
      if (context.port === null) return;
      const input: UpstreamLegInput = { tunnelId: context.tunnelId, port: context.port };
      enqueue(spawnChild('upstreamLeg', { id: 'upstream', input }));
      enqueue.assign({ upstreamLive: true });
    }),
    // Stopping the leg cuts the connection at once, whatever state it is in (a handshake in flight included).
    abortUpstream: enqueueActions(({ enqueue }) => {
      enqueue(stopChild('upstream'));
      enqueue.assign({ upstreamLive: false, upstreamPaused: false });
    }),
    closeClient: enqueueActions(({ context, enqueue }, params: CloseInstruction) => {
      if (!context.clientLive || context.clientClose !== null) return;
      enqueue.sendTo('client', { type: 'leg.close', ...params } satisfies LegCommand);
      enqueue.assign({ clientClose: params });
    }),
    closeUpstream: enqueueActions(({ context, enqueue }, params: CloseInstruction) => {
      if (!context.upstreamLive || context.upstreamClose !== null) return;
      enqueue.sendTo('upstream', { type: 'leg.close', ...params } satisfies LegCommand);
      enqueue.assign({ upstreamClose: params });
    }),
    markClientGone: assign({ clientLive: false, clientPaused: false }),
    markUpstreamGone: assign({ upstreamLive: false, upstreamPaused: false }),
    pauseUpstream: enqueueActions(({ context, enqueue }) => {
      if (!context.upstreamLive || context.upstreamPaused) return;
      enqueue.sendTo('upstream', { type: 'leg.pause' } satisfies LegCommand);
      enqueue.assign({ upstreamPaused: true });
    }),
    resumeUpstream: enqueueActions(({ context, enqueue }) => {
      if (!context.upstreamLive || !context.upstreamPaused) return;
      enqueue.sendTo('upstream', { type: 'leg.resume' } satisfies LegCommand);
      enqueue.assign({ upstreamPaused: false });
    }),
    pauseClient: enqueueActions(({ context, enqueue }) => {
      if (!context.clientLive || context.clientPaused) return;
      enqueue.sendTo('client', { type: 'leg.pause' } satisfies LegCommand);
      enqueue.assign({ clientPaused: true });
    }),
    resumeClient: enqueueActions(({ context, enqueue }) => {
      if (!context.clientLive || !context.clientPaused) return;
      enqueue.sendTo('client', { type: 'leg.resume' } satisfies LegCommand);
      enqueue.assign({ clientPaused: false });
    }),
    pingUpstream: enqueueActions(({ enqueue }) => {
      enqueue.sendTo('upstream', { type: 'leg.ping' } satisfies LegCommand);
      enqueue.assign({ awaitingPong: true });
    }),
    notePong: assign({ awaitingPong: false }),
  },
}).createMachine({
  id: 'pluginTunnel',
  context: ({ input }) => ({
    tunnelId: input.tunnelId,
    name: input.name,
    settings: input.settings,
    port: null,
    queue: [],
    queuedBytes: 0,
    clientLive: true,
    upstreamLive: false,
    clientPaused: false,
    upstreamPaused: false,
    awaitingPong: false,
    clientClose: null,
    upstreamClose: null,
  }),
  invoke: { id: 'client', src: 'clientLeg', input: ({ context }) => ({ tunnelId: context.tunnelId }) },
  initial: 'connecting',
  states: {
    connecting: {
      initial: 'resolvingPort',
      after: {
        upstreamConnectTimeout: {
          guard: 'connectTimeoutEnabled',
          target: 'closing',
          actions: [{ type: 'closeClient', params: PLUGIN_CLOSE.upstreamTimeout }, 'abortUpstream', 'dropQueue'],
        },
      },
      on: {
        'client.message': [
          { guard: 'queueHasRoom', actions: 'enqueueFrame' },
          { target: 'closing', actions: [{ type: 'closeClient', params: PLUGIN_CLOSE.queueFull }, 'abortUpstream', 'dropQueue'] },
        ],
        // The client left before the tunnel opened: abort the upstream instead of leaking it.
        'client.closed': { target: 'closing', actions: ['markClientGone', 'abortUpstream', 'dropQueue'] },
        'upstream.failed': {
          target: 'closing',
          actions: [{ type: 'closeClient', params: PLUGIN_CLOSE.upstreamError }, 'abortUpstream', 'dropQueue'],
        },
        'upstream.closed': {
          target: 'closing',
          actions: ['markUpstreamGone', { type: 'closeClient', params: PLUGIN_CLOSE.upstreamError }, 'dropQueue'],
        },
        'xstate.error.actor.upstream': {
          target: 'closing',
          actions: ['markUpstreamGone', { type: 'closeClient', params: PLUGIN_CLOSE.upstreamError }, 'dropQueue'],
        },
        'xstate.error.actor.client': { target: 'closing', actions: ['markClientGone', 'abortUpstream', 'dropQueue'] },
        'tunnel.shutdown': {
          target: 'closing',
          actions: [{ type: 'closeClient', params: PLUGIN_CLOSE.shuttingDown }, 'abortUpstream', 'dropQueue'],
        },
      },
      states: {
        resolvingPort: {
          invoke: {
            src: 'resolvePluginPort',
            input: ({ context }) => ({ name: context.name }),
            onDone: [
              {
                guard: ({ event }) => event.output !== null,
                target: 'dialing',
                actions: assign({ port: ({ event }) => event.output }),
              },
              {
                target: '#pluginTunnel.closing',
                actions: [{ type: 'closeClient', params: PLUGIN_CLOSE.notRunning }, 'dropQueue'],
              },
            ],
            onError: {
              target: '#pluginTunnel.closing',
              actions: [{ type: 'closeClient', params: PLUGIN_CLOSE.upstreamError }, 'dropQueue'],
            },
          },
        },
        dialing: {
          entry: 'startUpstream',
          on: { 'upstream.opened': '#pluginTunnel.open' },
        },
      },
    },
    open: {
      entry: 'flushQueue',
      on: {
        'client.message': { actions: 'relayToUpstream' },
        'upstream.message': { actions: 'relayToClient' },
        'client.closed': {
          target: 'closing',
          actions: [
            'markClientGone',
            { type: 'closeUpstream', params: ({ event }) => closeForUpstream(event.code, event.reason) },
          ],
        },
        'upstream.closed': {
          target: 'closing',
          actions: [
            'markUpstreamGone',
            { type: 'closeClient', params: ({ event }) => closeForClient(event.code, event.reason) },
          ],
        },
        'upstream.failed': {
          target: 'closing',
          actions: [{ type: 'closeClient', params: PLUGIN_CLOSE.upstreamError }, 'abortUpstream'],
        },
        'xstate.error.actor.upstream': {
          target: 'closing',
          actions: ['markUpstreamGone', { type: 'closeClient', params: PLUGIN_CLOSE.upstreamError }],
        },
        'xstate.error.actor.client': { target: 'closing', actions: ['markClientGone', 'abortUpstream'] },
        // Each side's send buffer throttles reading from the other side.
        'client.congested': { actions: 'pauseUpstream' },
        'client.drained': { actions: 'resumeUpstream' },
        'upstream.congested': { actions: 'pauseClient' },
        'upstream.drained': { actions: 'resumeClient' },
        'upstream.pong': { actions: 'notePong' },
        'tunnel.shutdown': {
          target: 'closing',
          actions: [
            { type: 'closeClient', params: PLUGIN_CLOSE.shuttingDown },
            { type: 'closeUpstream', params: PLUGIN_CLOSE.shuttingDown },
          ],
        },
      },
      initial: 'heartbeat',
      states: {
        heartbeat: {
          after: {
            upstreamHeartbeat: [
              { guard: 'heartbeatDisabled' },
              {
                guard: 'upstreamMissedPong',
                target: '#pluginTunnel.closing',
                actions: [{ type: 'closeClient', params: PLUGIN_CLOSE.upstreamTimeout }, 'abortUpstream'],
              },
              { guard: 'upstreamReadPaused', target: 'heartbeat', reenter: true },
              { target: 'heartbeat', reenter: true, actions: 'pingUpstream' },
            ],
          },
        },
      },
    },
    closing: {
      // Close frames are read like any other data: a paused leg would never see its handshake end.
      entry: ['resumeClient', 'resumeUpstream'],
      always: { guard: 'bothLegsClosed', target: 'closed' },
      after: { closeTimeout: 'closed' },
      on: {
        'client.closed': { actions: 'markClientGone' },
        'upstream.closed': { actions: 'markUpstreamGone' },
        'xstate.error.actor.upstream': { actions: 'markUpstreamGone' },
        'xstate.error.actor.client': { actions: 'markClientGone' },
      },
    },
    // Final: the actor is done, which stops both legs (their cleanup cuts whatever is still open).
    closed: { type: 'final' },
  },
});

export type PluginTunnelMachine = typeof pluginTunnelMachine;
