// A WebSocket that comes back: after any close it reconnects with exponential backoff and
// jitter, so a gateway restart does not get every tab knocking at the same instant.
// drop(ms) pulls the network for a while (the page's "drop connection" button): the socket is
// closed and every reconnect attempt fails until the time is up, as on a real outage.
// fail(text) stops it for good with a reason (a refused token): retrying cannot help.

export const BACKOFF = { initialMs: 250, maxMs: 8000, factor: 2 };
/** RFC 6455 normal closure: the page closes on purpose (Detach, Forget). */
const NORMAL_CLOSURE = 1000;
/** The page's own code for a simulated outage (private-use range; the gateway never sends it). */
export const PAGE_DROP_CODE = 4000;

/** The delay before attempt `attempt` (1-based): 250, 500, 1000 … 8000 ms, each scaled by 0.5–1. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF.maxMs, BACKOFF.initialMs * BACKOFF.factor ** Math.max(0, attempt - 1));
  return Math.round(base * (0.5 + random() / 2));
}

export class ReconnectingSocket {
  /**
   * @param {object} options
   * @param {() => string} options.url          asked again at every attempt (the token may change)
   * @param {(socket: ReconnectingSocket) => void} [options.onOpen]
   * @param {(data: string) => void} [options.onMessage]
   * @param {(status: object) => void} [options.onStatus]
   * @param {(close: { code: number, reason: string, opened: boolean }) => void} [options.onClose]
   *        every close the page did not ask for; `opened` is false when the socket never opened
   *        (a refused upgrade looks like that: browsers hide its HTTP status)
   */
  constructor(options) {
    this.options = options;
    this.ws = null;
    this.running = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.offlineUntil = 0;
    this.connects = 0;
    this.status = { state: 'idle', attempt: 0, retryAt: 0, lastClose: null, connects: 0, error: null };
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.connect();
  }

  /** Closes for good (no reconnect). */
  stop(reason = 'closed') {
    this.running = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(NORMAL_CLOSURE, reason);
    this.setStatus({ state: 'stopped', retryAt: 0 });
  }

  /** Stops for good because retrying cannot help; `error` says why (shown by the page). */
  fail(error) {
    this.stop('failed');
    this.setStatus({ state: 'failed', error });
  }

  /** Simulated network loss: close now, refuse to connect for `ms`, then back off as usual. */
  drop(ms) {
    this.offlineUntil = Date.now() + ms;
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(PAGE_DROP_CODE, 'playground: connection dropped');
    if (this.running) this.scheduleRetry({ code: PAGE_DROP_CODE, reason: 'dropped by the page' });
  }

  /** Sends a JSON frame; false when the socket is not open (the caller decides what that means). */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  connect() {
    this.retryTimer = null;
    if (!this.running) return;
    this.attempt += 1;
    if (Date.now() < this.offlineUntil) {
      this.scheduleRetry({ code: 0, reason: 'network down (simulated)' });
      return;
    }
    this.setStatus({ state: 'connecting', attempt: this.attempt, retryAt: 0, error: null });
    let ws;
    try {
      ws = new WebSocket(this.options.url());
    } catch (error) {
      this.scheduleRetry({ code: 0, reason: String(error) });
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.connects += 1;
      this.setStatus({ state: 'open', attempt: 0, retryAt: 0, connects: this.connects });
      this.options.onOpen?.(this);
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws || typeof event.data !== 'string') return;
      this.options.onMessage?.(event.data);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.running) this.scheduleRetry({ code: event.code, reason: event.reason });
      // After the retry is planned, so a listener that decides to fail() cancels it.
      this.options.onClose?.({ code: event.code, reason: event.reason, opened });
    };
  }

  scheduleRetry(lastClose) {
    clearTimeout(this.retryTimer);
    const delay = backoffDelay(this.attempt + 1);
    const offline = Date.now() < this.offlineUntil;
    this.setStatus({ state: offline ? 'offline' : 'waiting', retryAt: Date.now() + delay, lastClose });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  setStatus(change) {
    this.status = { ...this.status, ...change };
    this.options.onStatus?.(this.status);
  }
}
