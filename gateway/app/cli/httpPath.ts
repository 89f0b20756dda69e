import { parseRequestTarget } from '../../upgrade.js';

/**
 * The path an HTTP request for the CLI's own routes (REST, static files) names, resolved the way
 * a browser would (`/api/../healthz` is `/healthz`), or null when the target does not parse (the
 * standalone server answers those 400 before any handler). The WebSocket router does not use
 * this: it routes on the path exactly as sent.
 */
export function httpPathname(url: string | undefined): string | null {
  return parseRequestTarget(url)?.pathname ?? null;
}
