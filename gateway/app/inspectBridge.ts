/**
 * A local relay between a gateway's inspector and the Stately inspector in a browser, on
 * 127.0.0.1 only. `GET /` serves a page that embeds the Stately inspector UI and feeds it the
 * events; the WebSocket on the same port takes events from the gateway (`createGatewayInspector`)
 * and relays them to every other connection, replaying the recent ones to a page opened late.
 *
 * Browsers on other sites could reach a loopback port too, so a WebSocket with a browser Origin
 * other than this page's own is refused (cross-site WebSocket hijacking).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { WebSocket, WebSocketServer } from 'ws';

/** The Stately inspector UI the page embeds (it runs in the browser; the events reach it by postMessage). */
export const STATELY_INSPECTOR_UI = 'https://stately.ai/inspect';
/** Port of `agent-gateway --inspect` when none is given. */
export const DEFAULT_INSPECTOR_BRIDGE_PORT = 8125;
/** Recent events replayed to a page that connects later: enough for the actors of a busy gateway. */
export const INSPECTOR_REPLAY_EVENTS = 2000;

export interface InspectorBridgeOptions {
  /** 0 picks a free port. Default 8125. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  inspectorUi?: string;
  replayEvents?: number;
}

export interface InspectorBridge {
  /** Open this in a browser. */
  readonly pageUrl: string;
  /** Give this to `createGatewayInspector({ url })`. */
  readonly wsUrl: string;
  close(): Promise<void>;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function bridgePage(inspectorUi: string): string {
  return `<!doctype html>
<html>
<head>
  <meta charset="utf-8">
  <title>agent-gateway · Stately inspector</title>
  <style>html, body, iframe { margin: 0; width: 100%; height: 100%; border: 0; }</style>
</head>
<body>
  <iframe id="inspector" src="${escapeHtml(inspectorUi)}"></iframe>
  <script>
    // The inspector says when it is ready; until then events wait here, in order.
    const frame = document.getElementById('inspector');
    const waiting = [];
    let ready = false;
    window.addEventListener('message', (message) => {
      if (message.source !== frame.contentWindow || !message.data || message.data.type !== '@statelyai.connected') return;
      ready = true;
      for (const event of waiting.splice(0)) frame.contentWindow.postMessage(event, '*');
    });
    const socket = new WebSocket('ws://' + location.host);
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (ready) frame.contentWindow.postMessage(event, '*');
      else waiting.push(event);
    };
  </script>
</body>
</html>
`;
}

export async function startInspectorBridge(options: InspectorBridgeOptions = {}): Promise<InspectorBridge> {
  const host = options.host ?? '127.0.0.1';
  const replayEvents = options.replayEvents ?? INSPECTOR_REPLAY_EVENTS;
  const page = bridgePage(options.inspectorUi ?? STATELY_INSPECTOR_UI);
  const recent: string[] = [];
  let port = 0;
  /** The page itself, however the user spelled loopback in the address bar. */
  const isOwnPage = (value: string) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' && Number(url.port) === port && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    } catch {
      return false;
    }
  };

  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '/') !== '/') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    response.end(page);
  });
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    verifyClient: ({ req }: { req: IncomingMessage }) => req.headers.origin === undefined || isOwnPage(req.headers.origin),
  });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    for (const message of recent) ws.send(message);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const message = data.toString();
      recent.push(message);
      if (recent.length > replayEvents) recent.splice(0, recent.length - replayEvents);
      for (const other of wss.clients) if (other !== ws && other.readyState === WebSocket.OPEN) other.send(message);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_INSPECTOR_BRIDGE_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    pageUrl: `http://${shownHost}:${port}/`,
    wsUrl: `ws://${shownHost}:${port}`,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
