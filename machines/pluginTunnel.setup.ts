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

import { notProvided } from './notProvided.js';
import type { CloseInstruction } from './pluginTunnel.closeCodes.js';
import type {
  ClientLegInput,
  LegCommand,
  LegSide,
  PluginPortResult,
  PluginTunnelEvent,
  PluginTunnelInput,
  PluginTunnelSettings,
  TunnelFrame,
  UpstreamLegInput,
} from './pluginTunnel.types.js';

/**
 * The named vocabulary of the plugin tunnel statechart (pluginTunnel.machine.ts): its context,
 * the adapters it needs (placeholders until the gateway provides them), delays, guards and
 * actions. Kept apart so the statechart file reads as the specification.
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

const MACHINE = 'pluginTunnel.machine';

const frameOf = (event: TunnelFrame): TunnelFrame => ({ data: event.data, isBinary: event.isBinary });

export const pluginTunnelSetup = setup({
  types: {
    context: {} as PluginTunnelContext,
    events: {} as PluginTunnelEvent,
    input: {} as PluginTunnelInput,
  },
  actors: {
    clientLeg: notProvided<CallbackActorLogic<LegCommand, ClientLegInput>>(MACHINE, 'clientLeg'),
    upstreamLeg: notProvided<CallbackActorLogic<LegCommand, UpstreamLegInput>>(MACHINE, 'upstreamLeg'),
    resolvePluginPort: notProvided<PromiseActorLogic<PluginPortResult, { name: string }>>(MACHINE, 'resolvePluginPort'),
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
    /**
     * Stops or restarts reading one leg (`leg.pause` / `leg.resume`), once: a leg already so, or
     * gone, is left alone, so pause and resume always alternate on each leg.
     */
    setLegPaused: enqueueActions(({ context, enqueue }, params: { leg: LegSide; paused: boolean }) => {
      const live = params.leg === 'client' ? context.clientLive : context.upstreamLive;
      const paused = params.leg === 'client' ? context.clientPaused : context.upstreamPaused;
      if (!live || paused === params.paused) return;
      enqueue.sendTo(params.leg, { type: params.paused ? 'leg.pause' : 'leg.resume' } satisfies LegCommand);
      enqueue.assign(params.leg === 'client' ? { clientPaused: params.paused } : { upstreamPaused: params.paused });
    }),
    pingUpstream: enqueueActions(({ enqueue }) => {
      enqueue.sendTo('upstream', { type: 'leg.ping' } satisfies LegCommand);
      enqueue.assign({ awaitingPong: true });
    }),
    notePong: assign({ awaitingPong: false }),
  },
});
