/**
 * The vocabulary between the plugin tunnel machine and its two legs (the client socket and the
 * upstream socket, both adapters supplied by the gateway). Events the machine receives are facts
 * named after the leg they came from; commands it sends to a leg are verbs under `leg.`.
 */

/** One WebSocket message, kept as bytes with its frame type so text stays text and binary stays binary. */
export interface TunnelFrame {
  data: Uint8Array;
  isBinary: boolean;
}

export type LegSide = 'client' | 'upstream';

/** Facts either leg reports. `congested`/`drained`: that leg's send buffer crossed its high/low-water mark. */
type LegFact<S extends LegSide> =
  | ({ type: `${S}.message` } & TunnelFrame)
  | { type: `${S}.closed`; code: number; reason: string }
  | { type: `${S}.congested` }
  | { type: `${S}.drained` };

export type PluginTunnelEvent =
  | LegFact<'client'>
  | LegFact<'upstream'>
  | { type: 'upstream.opened' }
  | { type: 'upstream.pong' }
  /** The upstream socket reported an error (refused, reset, invalid frame…); its close follows. */
  | { type: 'upstream.failed'; message: string }
  /** Graceful shutdown of the gateway (the name every machine uses): both legs are closed with 1001. */
  | { type: 'gateway.shutdown' };

/** Commands the machine sends to a leg. `leg.close` without `code` sends a close frame without status. */
export type LegCommand =
  | ({ type: 'leg.send' } & TunnelFrame)
  | { type: 'leg.close'; code?: number; reason?: string }
  | { type: 'leg.pause' }
  | { type: 'leg.resume' }
  | { type: 'leg.ping' };

/** Timing and bounds of one tunnel; the route fills them from the gateway limits. */
export interface PluginTunnelSettings {
  /** Bytes of client frames queued before the upstream opens; over it the client is closed 1008. */
  queueMaxBytes: number;
  /** Client frames queued before the upstream opens; over it the client is closed 1008. */
  queueMaxFrames: number;
  /** From accepting the client until the upstream opens (port lookup included); 0 waits forever. */
  connectTimeoutMs: number;
  /** Upstream ping period; an unanswered ping by the next tick ends the tunnel with 4504. 0 disables. */
  heartbeatIntervalMs: number;
  /** How long a closing tunnel waits for both close handshakes before the legs are cut. */
  closeTimeoutMs: number;
}

export interface PluginTunnelInput {
  /** The actor id (`tunnel:<n>`); the client leg finds its socket by it. */
  tunnelId: string;
  /** The validated plugin name. */
  name: string;
  settings: PluginTunnelSettings;
}

export interface ClientLegInput {
  tunnelId: string;
}

export interface UpstreamLegInput {
  tunnelId: string;
  port: number;
}

/** The port lookup's answer: a usable TCP port, or null when the plugin is not running. */
export type PluginPortResult = number | null;
