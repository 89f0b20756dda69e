import { assign } from 'xstate';

import { closeForClient, closeForUpstream } from './pluginTunnel.closeCodes.js';
import { CLOSE } from './protocolCodes.js';
import { pluginTunnelSetup } from './pluginTunnel.setup.js';

export type { PluginTunnelContext } from './pluginTunnel.setup.js';

/**
 * One `/plugin-ws/<name>` tunnel: a client socket relayed to the plugin's own WebSocket server.
 *
 *   connecting (resolvingPort → dialing) → open → closing → closed
 *
 * The two sockets are legs supplied by the gateway: `clientLeg` (invoked for the tunnel's whole
 * life) and `upstreamLeg` (spawned once the port is known, stopped to abort it). The machine owns
 * the pre-open queue, the close-code mapping, who pauses whom under back-pressure, the connect
 * timeout and the upstream heartbeat. Named actions, guards and delays live in pluginTunnel.setup.ts.
 */
export const pluginTunnelMachine = pluginTunnelSetup.createMachine({
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
          actions: [{ type: 'closeClient', params: CLOSE.UPSTREAM_TIMEOUT }, 'abortUpstream', 'dropQueue'],
        },
      },
      on: {
        'client.message': [
          { guard: 'queueHasRoom', actions: 'enqueueFrame' },
          { target: 'closing', actions: [{ type: 'closeClient', params: CLOSE.TUNNEL_QUEUE_FULL }, 'abortUpstream', 'dropQueue'] },
        ],
        // The client left before the tunnel opened: abort the upstream instead of leaking it.
        'client.closed': { target: 'closing', actions: ['markClientGone', 'abortUpstream', 'dropQueue'] },
        'upstream.failed': {
          target: 'closing',
          actions: [{ type: 'closeClient', params: CLOSE.UPSTREAM_ERROR }, 'abortUpstream', 'dropQueue'],
        },
        'upstream.closed': {
          target: 'closing',
          actions: ['markUpstreamGone', { type: 'closeClient', params: CLOSE.UPSTREAM_ERROR }, 'dropQueue'],
        },
        'xstate.error.actor.upstream': {
          target: 'closing',
          actions: ['markUpstreamGone', { type: 'closeClient', params: CLOSE.UPSTREAM_ERROR }, 'dropQueue'],
        },
        'xstate.error.actor.client': { target: 'closing', actions: ['markClientGone', 'abortUpstream', 'dropQueue'] },
        'gateway.shutdown': {
          target: 'closing',
          actions: [{ type: 'closeClient', params: CLOSE.SERVER_SHUTTING_DOWN }, 'abortUpstream', 'dropQueue'],
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
                actions: [{ type: 'closeClient', params: CLOSE.PLUGIN_NOT_RUNNING }, 'dropQueue'],
              },
            ],
            onError: {
              target: '#pluginTunnel.closing',
              actions: [{ type: 'closeClient', params: CLOSE.UPSTREAM_ERROR }, 'dropQueue'],
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
          actions: [{ type: 'closeClient', params: CLOSE.UPSTREAM_ERROR }, 'abortUpstream'],
        },
        'xstate.error.actor.upstream': {
          target: 'closing',
          actions: ['markUpstreamGone', { type: 'closeClient', params: CLOSE.UPSTREAM_ERROR }],
        },
        'xstate.error.actor.client': { target: 'closing', actions: ['markClientGone', 'abortUpstream'] },
        // Each side's send buffer throttles reading from the other side.
        'client.congested': { actions: { type: 'setLegPaused', params: { leg: 'upstream', paused: true } } },
        'client.drained': { actions: { type: 'setLegPaused', params: { leg: 'upstream', paused: false } } },
        'upstream.congested': { actions: { type: 'setLegPaused', params: { leg: 'client', paused: true } } },
        'upstream.drained': { actions: { type: 'setLegPaused', params: { leg: 'client', paused: false } } },
        'upstream.pong': { actions: 'notePong' },
        'gateway.shutdown': {
          target: 'closing',
          actions: [
            { type: 'closeClient', params: CLOSE.SERVER_SHUTTING_DOWN },
            { type: 'closeUpstream', params: CLOSE.SERVER_SHUTTING_DOWN },
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
                actions: [{ type: 'closeClient', params: CLOSE.UPSTREAM_TIMEOUT }, 'abortUpstream'],
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
      entry: [
        { type: 'setLegPaused', params: { leg: 'client', paused: false } },
        { type: 'setLegPaused', params: { leg: 'upstream', paused: false } },
      ],
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
