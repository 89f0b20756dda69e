/**
 * The gateway's logging seam. Hosts pass their own (pino, winston, console…) as `deps.logger`;
 * every call takes a message and optional structured fields. Tokens never reach a logger:
 * URLs are passed through `redactUrl` first.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** A console logger that drops messages below `level`. */
export function createConsoleLogger(level: LogLevel = 'info'): Logger {
  const threshold = LEVEL_ORDER[level];
  const write = (at: Exclude<LogLevel, 'silent'>) => (message: string, fields?: Record<string, unknown>) => {
    if (LEVEL_ORDER[at] < threshold) return;
    const line = `[agent-gateway] ${at.toUpperCase()} ${message}`;
    const sink = at === 'error' ? console.error : at === 'warn' ? console.warn : console.log;
    if (fields && Object.keys(fields).length > 0) sink(line, fields);
    else sink(line);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Replaces a `token` query parameter so upgrade URLs can be logged safely. A target that does not
 * parse cannot be redacted, so none of it is logged.
 */
export function redactUrl(rawUrl: string | undefined): string {
  let url: URL;
  try {
    url = new URL(rawUrl ?? '/', 'http://localhost');
  } catch {
    return '(malformed request target)';
  }
  if (url.searchParams.has('token')) url.searchParams.set('token', 'REDACTED');
  return `${url.pathname}${url.search}`;
}
