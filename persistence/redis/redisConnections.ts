/**
 * The three connections of a node to Redis, and whether Redis can be reached:
 *
 * - `command`: every script and read. No offline queue and no retry of a command whose reply was
 *   lost (`maxRetriesPerRequest: 0`): while Redis is unreachable a call rejects at once, so the
 *   caller decides (the writer keeps its queue and retries, `acquire` rejects). A script resent
 *   blindly after a reconnect could run twice (an `acquire` would then find its own record).
 * - `reader`: the stream reader's blocking XREAD, alone so it never delays a command.
 * - `subscriber`: the node bus's pub/sub subscription (ioredis resubscribes after a reconnect).
 *
 * All reconnect by themselves with a capped backoff until closed. Opening waits for all three
 * (`lazyConnect` + `connect()`), bounded by `OPEN_TIMEOUT_MS`, so a wrong URL, a refused port or
 * a bad password fails the start with one clear error instead of a node that retries silently.
 */
import { Redis, type RedisOptions } from 'ioredis';

import type { BackendHealth } from '../cluster/types.js';
import type { PersistenceLogger } from '../types.js';

/** How long opening may take before it fails (every connection ready). */
export const OPEN_TIMEOUT_MS = 5_000;
/** TCP connect timeout of one attempt (an unroutable host must not hang an attempt). */
export const CONNECT_ATTEMPT_TIMEOUT_MS = 3_000;
/** A command without a reply for this long fails (Redis stalled): the caller's failure path runs. */
export const COMMAND_TIMEOUT_MS = 5_000;
/** Reconnect backoff: the first retry after this, doubling… */
export const RECONNECT_BASE_MS = 50;
/** …up to this. */
export const RECONNECT_MAX_MS = 2_000;
/** TCP keepalive probe delay, so a silently dead peer is noticed. */
const KEEPALIVE_MS = 10_000;
/** `quit()` at close waits this long before the connection is dropped. */
const QUIT_TIMEOUT_MS = 1_000;

export interface RedisConnections {
  readonly command: Redis;
  readonly reader: Redis;
  readonly subscriber: Redis;
  readonly status: ConnectionStatus;
  close(): Promise<void>;
}

/** Removes the URL's credentials from any text that might carry them. */
export function redactor(url: string): (text: string) => string {
  const secrets: string[] = [];
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') {
      secrets.push(parsed.password, decodeURIComponent(parsed.password));
    }
  } catch {
    // not a URL: nothing known to hide, the generic pattern below still applies
  }
  return (text) => {
    let out = text.replace(/(rediss?:\/\/)[^@/\s]*@/gi, '$1***@');
    for (const secret of secrets) if (secret !== '') out = out.split(secret).join('***');
    return out;
  };
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Reachability of Redis as the command connection sees it: connected while it is ready and its
 * last command did not fail for a connection reason; `lastError` keeps the last failure.
 */
export class ConnectionStatus {
  private lastErrorText: string | null = null;
  private commandsFailing = false;
  private disconnectedLogged = false;
  private stopped = false;

  constructor(
    private readonly command: Redis,
    private readonly redact: (text: string) => string,
    private readonly logger?: PersistenceLogger,
  ) {
    command.on('error', (error: unknown) => this.noteFailure(error));
    command.on('ready', () => {
      this.commandsFailing = false;
      if (this.disconnectedLogged) {
        this.disconnectedLogged = false;
        this.logger?.warn('Redis reachable again', {});
      }
    });
    command.on('close', () => {
      if (this.disconnectedLogged || this.stopped) return;
      this.disconnectedLogged = true;
      this.logger?.error('Redis connection lost; reconnecting', { lastError: this.lastErrorText });
    });
  }

  /** The node is closing its connections: their ends are not failures. */
  stop(): void {
    this.stopped = true;
  }

  get lastError(): string | null {
    return this.lastErrorText;
  }

  connected(): boolean {
    return this.command.status === 'ready' && !this.commandsFailing;
  }

  /** A command or the connection failed. */
  noteFailure(error: unknown): void {
    this.lastErrorText = this.redact(errorMessage(error));
    if (isConnectionError(error)) this.commandsFailing = true;
  }

  /** A command got its reply: Redis answers. */
  noteSuccess(): void {
    this.commandsFailing = false;
  }

  /** Runs a call to Redis and records its outcome (a rejection is passed on). */
  async track<T>(run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.noteSuccess();
      return result;
    } catch (error) {
      this.noteFailure(error);
      throw error;
    }
  }

  /** Redacted message of an error, for logs and health. */
  describe(error: unknown): string {
    return this.redact(errorMessage(error));
  }

  health(): BackendHealth {
    return { backend: 'redis', connected: this.connected(), lastError: this.lastErrorText };
  }
}

/** Failures that say nothing reached Redis or no reply came back (as opposed to a Redis error reply). */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return false;
  return true;
}

function connectionOptions(name: string): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: CONNECT_ATTEMPT_TIMEOUT_MS,
    keepAlive: KEEPALIVE_MS,
    connectionName: name,
    retryStrategy: (attempt: number) => Math.min(RECONNECT_BASE_MS * 2 ** Math.min(attempt - 1, 16), RECONNECT_MAX_MS),
  };
}

function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'the configured URL';
  }
}

/** Connects one client, or rejects with its last error within `timeoutMs`. */
function connectWithin(client: Redis, timeoutMs: number, redact: (text: string) => string): Promise<void> {
  let lastError: unknown = null;
  const onError = (error: unknown) => (lastError = error);
  client.on('error', onError);
  return new Promise<void>((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      reject(new Error(redact(reason)));
    };
    const onReady = () => {
      clearTimeout(timer);
      client.off('error', onError);
      resolve();
    };
    const timer = setTimeout(() => {
      fail(lastError === null ? `no answer within ${timeoutMs} ms` : errorMessage(lastError));
    }, timeoutMs);
    client.once('ready', onReady);
    // The first attempt's failure rejects `connect()`, but ioredis keeps retrying: a refused port
    // or a Redis still starting may answer within the time we give it.
    client.connect().catch(() => undefined);
  });
}

export async function openConnections(url: string, nodeId: string, logger?: PersistenceLogger): Promise<RedisConnections> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('The Redis URL is not a URL (expected redis://[user:password@]host:port[/db])');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`The Redis URL must start with redis:// or rediss://, got ${parsed.protocol}//`);
  }
  const redact = redactor(url);
  const command = new Redis(url, { ...connectionOptions(`ag:${nodeId}:command`), commandTimeout: COMMAND_TIMEOUT_MS });
  // The reader's XREAD blocks by design; its own watchdog (streamReader.ts) replaces a command timeout.
  const reader = new Redis(url, connectionOptions(`ag:${nodeId}:reader`));
  // ioredis's own resubscription after a reconnect has no rejection handler: a connection lost
  // again right after `ready` rejected it unhandled and ended the process (seen in CI). The bus
  // resubscribes itself on `ready` (nodeBus.ts), with a handler.
  const subscriber = new Redis(url, { ...connectionOptions(`ag:${nodeId}:subscriber`), autoResubscribe: false });
  const all = [command, reader, subscriber];
  // ioredis reports every failed reconnect as an 'error' event; without a listener Node would throw.
  for (const client of all) client.on('error', () => undefined);
  try {
    await Promise.all(all.map((client) => connectWithin(client, OPEN_TIMEOUT_MS, redact)));
  } catch (error) {
    for (const client of all) client.disconnect();
    throw new Error(`Cannot reach Redis at ${describeTarget(url)}: ${errorMessage(error)}`);
  }
  const status = new ConnectionStatus(command, redact, logger);
  return {
    command,
    reader,
    subscriber,
    status,
    async close() {
      status.stop();
      // The reader may be blocked in XREAD: a QUIT would queue behind it.
      reader.disconnect();
      await Promise.all([command, subscriber].map((client) => quitWithin(client, QUIT_TIMEOUT_MS)));
    },
  };
}

async function quitWithin(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([client.quit().then(() => undefined, () => undefined), timeout]);
  clearTimeout(timer);
  client.disconnect();
}
