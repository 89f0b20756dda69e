import { WebSocket, type WebSocketServer } from 'ws';

/**
 * Ticks per heartbeat interval: each tick pings the next 1/`HEARTBEAT_SLICES` of the sockets, so
 * every socket is still pinged once per interval but the work is spread over it. Pinging all of
 * them in one turn stalled every frame behind it: 10 000 pings are ~10 000 writes, tens of ms on
 * the 2-core machine (bench: scale, whose p99 at 5 000 sockets it set).
 */
export const HEARTBEAT_SLICES = 16;

/**
 * One protocol ping per interval to every socket; a socket that has not answered the previous
 * ping is terminated, so a dead peer is gone within one to two intervals (plus one tick).
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
  const check = (ws: WebSocket) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (alive.get(ws) === false) {
      ws.terminate();
      return;
    }
    alive.set(ws, false);
    try {
      ws.ping();
    } catch {
      ws.terminate();
    }
  };
  // A round walks the live set in insertion order, a slice per tick; a Set iterator sees sockets
  // added during the round and skips removed ones. The next round starts on the tick after.
  let round: Iterator<WebSocket> | null = null;
  let perTick = 0;
  const timer = setInterval(() => {
    if (round === null) {
      round = wss.clients.values();
      perTick = Math.max(1, Math.ceil(wss.clients.size / HEARTBEAT_SLICES));
    }
    for (let i = 0; i < perTick; i++) {
      const next = round.next();
      if (next.done) {
        round = null;
        return;
      }
      check(next.value);
    }
  }, Math.max(1, Math.floor(intervalMs / HEARTBEAT_SLICES)));
  timer.unref();
  return () => {
    clearInterval(timer);
    wss.off('connection', onConnection);
  };
}
