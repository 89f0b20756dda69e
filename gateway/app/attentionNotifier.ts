import type { Logger } from '../logger.js';
import type { AttentionEvent } from '../types.js';

/**
 * `--notify-url`: POSTs each attention event (a run asked for approval, or ended, while nobody
 * watched its session) as JSON to a URL of the user's, e.g. a push relay or a chat webhook.
 *
 * It never delays a run: `notify` only queues. Deliveries go out one at a time, each with a
 * timeout and a bounded number of attempts; a queue that is full drops its oldest event (logged).
 * The body is the event alone (session, run, seq, what happened): never the gateway's token, and
 * the URL is logged without its query or credentials.
 */

/** Events waiting for delivery at most; beyond it the oldest is dropped. */
export const MAX_QUEUED_NOTIFICATIONS = 100;
/** One POST may take this long before it counts as failed. */
export const NOTIFY_TIMEOUT_MS = 5000;
/** Attempts per event (the first try and its retries). */
export const NOTIFY_MAX_ATTEMPTS = 3;
/** Pause before the first retry; doubled before each next one. */
export const NOTIFY_RETRY_BASE_MS = 1000;

export interface AttentionNotifierOptions {
  url: string;
  logger: Logger;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  timeoutMs?: number;
  maxAttempts?: number;
  retryBaseMs?: number;
  maxQueued?: number;
}

export interface AttentionNotifier {
  notify(event: AttentionEvent): void;
  /** Stops delivering; resolves once the POST in flight (if any) has ended. */
  close(): Promise<void>;
  /** Events queued and not yet delivered or given up. */
  readonly pending: number;
}

/** The URL as it may be logged: no credentials, no query (either may hold a secret). */
export function redactNotifyUrl(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * Where to POST and with which headers. `fetch` refuses a URL with credentials in it, so
 * `https://user:pass@host/hook` becomes the URL without them and an `Authorization: Basic` header.
 * Only http: and https: URLs are accepted.
 */
export function notifyTarget(raw: string): { url: string; headers: Record<string, string> } {
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`--notify-url must be an http:// or https:// URL`);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (url.username || url.password) {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  return { url: url.toString(), headers };
}

export function createAttentionNotifier(options: AttentionNotifierOptions): AttentionNotifier {
  const post = options.fetch ?? fetch;
  const target = notifyTarget(options.url);
  const timeoutMs = options.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const maxAttempts = options.maxAttempts ?? NOTIFY_MAX_ATTEMPTS;
  const retryBaseMs = options.retryBaseMs ?? NOTIFY_RETRY_BASE_MS;
  const maxQueued = options.maxQueued ?? MAX_QUEUED_NOTIFICATIONS;
  const shownUrl = redactNotifyUrl(options.url);
  const queue: AttentionEvent[] = [];
  let draining: Promise<void> | null = null;
  let closed = false;
  /** Aborts the POST in flight when the gateway closes: shutdown never waits on a slow receiver. */
  const closing = new AbortController();
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let wakeRetry: (() => void) | null = null;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wakeRetry = resolve;
      retryTimer = setTimeout(resolve, ms);
      retryTimer.unref?.();
    }).finally(() => {
      retryTimer = null;
      wakeRetry = null;
    });

  const deliver = async (event: AttentionEvent): Promise<void> => {
    const body = JSON.stringify(event);
    for (let attempt = 1; attempt <= maxAttempts && !closed; attempt++) {
      try {
        const response = await post(target.url, {
          method: 'POST',
          headers: target.headers,
          body,
          signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), closing.signal]),
          redirect: 'error',
        });
        // The body is not needed; reading it frees the connection.
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) return;
        options.logger.warn('--notify-url answered an error', { url: shownUrl, status: response.status, attempt });
      } catch (error) {
        options.logger.warn('--notify-url could not be reached', { url: shownUrl, error: String(error), attempt });
      }
      if (attempt < maxAttempts && !closed) await pause(retryBaseMs * 2 ** (attempt - 1));
    }
    options.logger.error('Gave up notifying --notify-url', { url: shownUrl, type: event.type, sessionId: event.sessionId });
  };

  const drain = async () => {
    while (queue.length > 0 && !closed) await deliver(queue.shift()!);
    draining = null;
  };

  return {
    notify(event) {
      if (closed) return;
      queue.push(event);
      if (queue.length > maxQueued) {
        const dropped = queue.shift()!;
        options.logger.warn('Attention queue full: dropped the oldest event', { sessionId: dropped.sessionId, type: dropped.type });
      }
      draining ??= drain();
    },
    async close() {
      closed = true;
      queue.length = 0;
      closing.abort();
      if (retryTimer) clearTimeout(retryTimer);
      wakeRetry?.();
      await draining;
    },
    get pending() {
      return queue.length;
    },
  };
}
