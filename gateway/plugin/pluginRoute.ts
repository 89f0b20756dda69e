import type { WebSocket } from 'ws';

import type { PluginTunnelInput, PluginTunnelSettings } from '../../machines/pluginTunnel.types.js';
import { CLOSE } from '../../machines/protocolCodes.js';
import type { ActorHost } from '../actorHost.js';
import type { GatewayLimits } from '../config.js';
import type { Logger } from '../logger.js';
import type { ConnectionContext, RouteHandler } from '../route.js';
import { createClientLeg } from './clientLeg.js';
import { parsePluginName } from './pluginName.js';
import { createPortResolver, type GetPluginPort } from './pluginPort.js';
import { createUpstreamLeg } from './upstreamLeg.js';
import type { PluginEffects } from '../wiring.js';

export interface PluginRouteOptions {
  host: ActorHost;
  limits: GatewayLimits;
  logger: Logger;
  /** The host's plugin registry. Absent: every tunnel is refused with 4404. */
  getPluginPort?: GetPluginPort;
  /** Upstream ping period; defaults to `limits.heartbeatIntervalMs`. 0 disables the upstream heartbeat. */
  heartbeatIntervalMs?: number;
}

export interface PluginRoute extends RouteHandler {
  /** The tunnel machine's effects (its two socket legs and the port lookup), for the wiring module. */
  readonly effects: PluginEffects;
}

/**
 * The `/plugin-ws/<name>` adapter. It validates the name, registers the client socket under a
 * fresh tunnel id and spawns a tunnel actor; from then on the actor decides everything and the
 * route only keeps the id → socket map that the client leg reads.
 */
export function createPluginRoute(options: PluginRouteOptions): PluginRoute {
  const { host, limits, logger, getPluginPort } = options;
  const sockets = new Map<string, WebSocket>();
  const drainWaiters = new Set<() => void>();
  let nextTunnel = 0;
  let shuttingDown = false;

  const waterMarks = {
    highWaterMarkBytes: limits.pluginHighWaterMarkBytes,
    lowWaterMarkBytes: limits.pluginLowWaterMarkBytes,
  };
  const settings: PluginTunnelSettings = {
    queueMaxBytes: limits.pluginQueueMaxBytes,
    queueMaxFrames: limits.pluginQueueMaxFrames,
    connectTimeoutMs: limits.pluginConnectTimeoutMs,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? limits.heartbeatIntervalMs,
    closeTimeoutMs: limits.pluginCloseTimeoutMs,
  };

  const release = (tunnelId: string) => {
    if (!sockets.delete(tunnelId)) return;
    logger.debug('plugin tunnel ended', { tunnelId });
    if (sockets.size === 0) {
      for (const resolve of drainWaiters) resolve();
      drainWaiters.clear();
    }
  };

  // The tunnel machine's effects; the wiring module provides them (gateway/wiring.ts).
  const effects: PluginEffects = {
    clientLeg: createClientLeg({ sockets, waterMarks, logger, onReleased: release }),
    upstreamLeg: createUpstreamLeg({ waterMarks, maxPayloadBytes: limits.pluginMaxPayloadBytes, logger }),
    resolvePluginPort: createPortResolver(getPluginPort ?? (() => null), logger),
  };

  return {
    effects,
    handle(ws: WebSocket, context: ConnectionContext) {
      const name = parsePluginName(context.pathname);
      if (name === null) {
        ws.close(CLOSE.INVALID_PLUGIN_NAME.code, CLOSE.INVALID_PLUGIN_NAME.reason);
        return;
      }
      if (shuttingDown) {
        ws.close(CLOSE.SERVER_SHUTTING_DOWN.code, CLOSE.SERVER_SHUTTING_DOWN.reason);
        return;
      }
      if (!getPluginPort) {
        ws.close(CLOSE.PLUGIN_NOT_RUNNING.code, CLOSE.PLUGIN_NOT_RUNNING.reason);
        return;
      }
      const tunnelId = `tunnel:${++nextTunnel}`;
      const input: PluginTunnelInput = { tunnelId, name, settings };
      sockets.set(tunnelId, ws);
      logger.debug('plugin tunnel started', { tunnelId, plugin: name, userId: context.userId });
      try {
        host.spawn('pluginTunnel', tunnelId, input);
      } catch (error) {
        // A tunnel whose client was already gone can finish inside spawn(); that is not a failure.
        if (!sockets.has(tunnelId)) return;
        release(tunnelId);
        logger.error('plugin tunnel: spawn failed', { tunnelId, error: String(error) });
        ws.close(CLOSE.INTERNAL_ERROR.code, CLOSE.INTERNAL_ERROR.reason);
      }
    },
    async close() {
      shuttingDown = true;
      for (const tunnelId of [...sockets.keys()]) {
        const actor = host.get(tunnelId);
        if (actor) {
          actor.send({ type: 'gateway.shutdown' });
        } else {
          sockets.get(tunnelId)?.close(CLOSE.SERVER_SHUTTING_DOWN.code, CLOSE.SERVER_SHUTTING_DOWN.reason);
          release(tunnelId);
        }
      }
      if (sockets.size === 0) return;
      await new Promise<void>((resolve) => drainWaiters.add(resolve));
    },
  };
}
