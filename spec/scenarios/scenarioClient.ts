/**
 * One named client of a scenario: a real `ws` socket whose received frames queue up until an
 * `expect` step consumes them. `/ws` and `/shell` frames are parsed JSON; `/plugin-ws/*` frames
 * are `{ text }` or `{ binary }` (base64), since a tunnel carries anything.
 *
 * `quiet()` is a round trip that proves every frame the gateway sent before it has arrived: on
 * `/ws` an answer from the gateway's own frame queue (a `chat.abort` for a session that cannot
 * exist), elsewhere a ping, whose pong the gateway writes after everything already sent.
 */
import { WebSocket } from 'ws';

import type { Waiter } from './waiter.js';

export type ClientFrame = unknown;

const QUIET_SESSION_PREFIX = '__scenario_quiet__:';

export interface ScenarioClient {
  readonly name: string;
  readonly path: string;
  readonly ws: WebSocket;
  readonly frames: ClientFrame[];
  /** Index of the first frame no `expect` has consumed. */
  cursor: number;
  closed: { code: number; reason: string } | null;
  /** This end's TCP port once open (how the gateway's side of the connection is told apart). */
  localPort: number | null;
  sendJson(frame: unknown): void;
  sendText(text: string): void;
  sendBinary(bytes: Buffer): void;
  quiet(timeoutMs: number): Promise<void>;
}

export interface ConnectOptions {
  url: string;
  name: string;
  path: string;
  headers: Record<string, string>;
  autoPong: boolean;
  waiter: Waiter;
}

export type ConnectResult = { ok: true; client: ScenarioClient } | { ok: false; status: number | null; error: string };

const isPluginPath = (path: string) => path.split('?')[0].startsWith('/plugin-ws/');
const isChatPath = (path: string) => path.split('?')[0] === '/ws';

function decode(data: Buffer, isBinary: boolean, plugin: boolean): ClientFrame {
  if (isBinary) return { binary: data.toString('base64') };
  const text = data.toString('utf8');
  if (plugin) return { text };
  try {
    return JSON.parse(text) as ClientFrame;
  } catch {
    return { text };
  }
}

export function connectClient(options: ConnectOptions): Promise<ConnectResult> {
  const { waiter } = options;
  const ws = new WebSocket(options.url, { headers: options.headers, autoPong: options.autoPong, perMessageDeflate: false });
  const plugin = isPluginPath(options.path);
  const chat = isChatPath(options.path);
  let quietSerial = 0;
  const quietDone = new Set<string>();

  const client: ScenarioClient = {
    name: options.name,
    path: options.path,
    ws,
    frames: [],
    cursor: 0,
    closed: null,
    localPort: null,
    sendJson: (frame) => ws.send(JSON.stringify(frame)),
    sendText: (text) => ws.send(text),
    sendBinary: (bytes) => ws.send(bytes, { binary: true }),
    async quiet(timeoutMs) {
      if (ws.readyState !== WebSocket.OPEN) return;
      const token = `${QUIET_SESSION_PREFIX}${options.name}:${++quietSerial}`;
      if (chat) ws.send(JSON.stringify({ type: 'chat.abort', sessionId: token }));
      else ws.ping(Buffer.from(token));
      await waiter.until(() => quietDone.has(token) || client.closed !== null, `${options.name}: the quiet round trip`, timeoutMs);
    },
  };

  ws.on('message', (data, isBinary) => {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const frame = decode(bytes, isBinary, plugin);
    const sessionId = (frame as { sessionId?: unknown } | null)?.sessionId;
    if (chat && typeof sessionId === 'string' && sessionId.startsWith(QUIET_SESSION_PREFIX)) {
      quietDone.add(sessionId);
    } else {
      client.frames.push(frame);
    }
    waiter.wake();
  });
  ws.on('pong', (payload) => {
    quietDone.add(payload.toString());
    waiter.wake();
  });
  ws.on('close', (code, reason) => {
    client.closed = { code, reason: reason.toString() };
    waiter.wake();
  });

  return new Promise((resolve) => {
    ws.once('upgrade', (response) => {
      client.localPort = response.socket.localPort ?? null;
    });
    ws.once('open', () => resolve({ ok: true, client }));
    ws.once('unexpected-response', (_request, response) => {
      resolve({ ok: false, status: response.statusCode ?? null, error: `HTTP ${response.statusCode}` });
      response.resume();
      ws.terminate();
    });
    ws.on('error', (error) => resolve({ ok: false, status: null, error: error.message }));
  });
}
