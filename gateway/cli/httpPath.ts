/**
 * The path an HTTP request for the CLI's own routes (REST, static files) names, resolved the way
 * a browser would (`/api/../healthz` is `/healthz`), or null when the target does not parse.
 * The WebSocket router does not use this: it routes on the path exactly as sent.
 */
export function httpPathname(url: string | undefined): string | null {
  try {
    return new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return null;
  }
}
