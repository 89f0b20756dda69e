import { WebSocket, type WebSocketServer } from 'ws';

/**
 * One protocol ping per interval to every socket; a socket that has not answered the previous
 * ping is terminated, so a dead peer is gone within one to two intervals.
 *
 * On Node's timers, not the gateway's XState clock: it measures a real peer's round trip, and a
 * simulated clock jumping two intervals at once would cut every socket whose pong had no real
 * time to arrive.
 */
export function startHeartbeat(wss: WebSocketServer, intervalMs: number): () => void {
  const alive = new WeakMap<WebSocket, boolean>();
  const markAlive = function (this: WebSocket) {
    alive.set(this, true);
  };
  const onConnection = (ws: WebSocket) => {
    alive.set(ws, true);
    ws.on('pong', markAlive);
  };
  wss.on('connection', onConnection);
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      try {
        ws.ping();
      } catch {
        ws.terminate();
      }
    }
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    wss.off('connection', onConnection);
  };
}
