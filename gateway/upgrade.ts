import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

import type { Clock } from './actorHost.js';
import type { GatewayUser, VerifyClientDeps } from './types.js';

/**
 * Upgrade admission: origin check and authentication, before any routing. Pure functions over
 * the request, the one helper that answers a refused upgrade on the raw socket, and the wait
 * for an admitted user's token to expire.
 */

/**
 * The request target as a URL, or null when it does not parse (`GET http://[::1/ws`, `GET //[::1/`:
 * Node's HTTP parser lets such targets through). The one parse every handler uses, so such a
 * request is answered 400 wherever it arrives (upgrade, REST, static files) instead of throwing.
 */
export function parseRequestTarget(target: string | undefined): URL | null {
  try {
    return new URL(target ?? '/', 'http://localhost');
  } catch {
    return null;
  }
}

/** `?token=` first, else the second word of the Authorization header. Cookies are not read. */
export function readToken(request: IncomingMessage): string | null {
  // A target that does not parse is refused with 400 before authentication; null here is only a guard.
  const fromQuery = parseRequestTarget(request.url)?.searchParams.get('token') ?? null;
  if (fromQuery !== null) return fromQuery;
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  return header.split(' ')[1] ?? null;
}

/**
 * Cross-site WebSocket hijacking guard. Non-browser clients (no Origin) pass; a browser origin
 * passes when its host equals the request's Host header, or it is in the allow-list ('*' allows all).
 */
export function isOriginAllowed(request: IncomingMessage, allowedOrigins: readonly string[]): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (allowedOrigins.includes('*') || allowedOrigins.includes(origin)) return true;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return false;
  }
  return typeof request.headers.host === 'string' && originHost.toLowerCase() === request.headers.host.toLowerCase();
}

export type AuthResult = { ok: true; user: GatewayUser } | { ok: false; status: 401 | 500 };

export async function authenticateUpgrade(request: IncomingMessage, verify: VerifyClientDeps): Promise<AuthResult> {
  try {
    const token = verify.isPlatform ? null : readToken(request);
    const user = await verify.authenticateWebSocket(token, request);
    if (!user || typeof user !== 'object') return { ok: false, status: 401 };
    return { ok: true, user };
  } catch {
    return { ok: false, status: 500 };
  }
}

/** `user.expiresAt` (epoch ms), else `user.exp` (epoch s), else null. */
export function userExpiry(user: GatewayUser): number | null {
  if (typeof user.expiresAt === 'number' && Number.isFinite(user.expiresAt)) return user.expiresAt;
  if (typeof user.exp === 'number' && Number.isFinite(user.exp)) return user.exp * 1000;
  return null;
}

/** setTimeout's largest delay: a later expiry is waited for in steps of at most this. */
const MAX_TIMER_MS = 2_147_483_647;

/** Node's own timers, for a gateway given no `clock`: what XState itself uses then. */
const SYSTEM_CLOCK: Clock = {
  setTimeout: (callback: () => void, ms: number) => setTimeout(callback, ms),
  clearTimeout: (id: ReturnType<typeof setTimeout>) => clearTimeout(id),
};

export interface TokenExpiryOptions {
  /** The gateway's XState clock (`deps.clock`); Node's timers when absent. */
  clock?: Clock;
  /** The wall clock the expiry is written in (epoch ms). */
  now?: () => number;
}

/**
 * Calls `expire` once the user's token has expired (at once when it already has), and returns
 * a function that cancels the wait. The time left is read once from `now` and then counted
 * down on `clock`: a SimulatedClock drives token expiry exactly as it drives every machine
 * timeout, so a test reaches it with `clock.increment` instead of sleeping.
 */
export function watchTokenExpiry(user: GatewayUser, expire: () => void, options: TokenExpiryOptions = {}): () => void {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const now = options.now ?? Date.now;
  const expiresAt = userExpiry(user);
  if (expiresAt === null) return () => {};
  let remaining = expiresAt - now();
  let timer: unknown = null;
  const wait = () => {
    if (remaining <= 0) {
      timer = null;
      expire();
      return;
    }
    const step = Math.min(remaining, MAX_TIMER_MS);
    timer = clock.setTimeout(() => {
      remaining -= step;
      wait();
    }, step);
  };
  wait();
  return () => {
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
  };
}

export function userIdOf(user: GatewayUser): string | number | null {
  if (typeof user.id === 'string' || typeof user.id === 'number') return user.id;
  if (typeof user.userId === 'string' || typeof user.userId === 'number') return user.userId;
  return null;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 500: 'Internal Server Error', 503: 'Service Unavailable' };

/** Answers a refused upgrade with a plain HTTP response and closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number): void {
  if (socket.destroyed) return;
  const text = STATUS_TEXT[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}
