/**
 * Live inspection of every actor of a running gateway in the Stately inspector. The gateway's
 * one root actor gets the observer (`deps.inspect`), so every chat session, run, shell and
 * tunnel shows up in one inspector with its states, events and context.
 *
 * Events go to a WebSocket relay with @statelyai/inspect's `createWebSocketInspector`: the
 * relay is `startInspectorBridge()` (inspectBridge.ts), which `agent-gateway --inspect` starts
 * on 127.0.0.1, or any relay you run yourself (`--inspect=ws://127.0.0.1:PORT`). Nothing leaves
 * the machine unless that URL points elsewhere.
 */
import { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent } from 'xstate';

import type { Inspector } from './actorHost.js';

export interface GatewayInspectorOptions {
  /** The relay's WebSocket URL, e.g. `ws://127.0.0.1:8125`. */
  url: string;
  /**
   * Events kept while the relay is not connected yet (oldest dropped first). The inspector
   * library's own bound; 1000 keeps the actor registrations of a busy start-up.
   */
  maxDeferredEvents?: number;
}

export interface GatewayInspector {
  /** Give this to the gateway: `createWebSocketServer(server, { …deps, inspect })`. */
  readonly inspect: Inspector;
  readonly url: string;
  /** Disconnects from the relay. */
  stop(): void;
}

export const DEFAULT_MAX_DEFERRED_INSPECTION_EVENTS = 1000;

export function createGatewayInspector(options: GatewayInspectorOptions): GatewayInspector {
  const url = new URL(options.url);
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`inspect: expected a ws:// or wss:// URL, got "${options.url}"`);
  const inspector = createWebSocketInspector({
    url: options.url,
    maxDeferredEvents: options.maxDeferredEvents ?? DEFAULT_MAX_DEFERRED_INSPECTION_EVENTS,
  });
  let stopped = false;
  return {
    url: options.url,
    inspect: (event: InspectionEvent) => {
      if (!stopped) inspector.inspect.next?.(event);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      inspector.stop();
    },
  };
}
