/**
 * Serves the playground page (gateway/app/playground/), the two @xterm/xterm files it loads, and
 * `/codes.js`: the gateway's close and error codes (machines/protocolCodes.ts) as an ES module.
 * Only the URL paths in a fixed table are answered, each mapped to one file chosen here, so no
 * request path ever becomes a file path: `..`, encoded dots and symlink tricks have nothing to
 * reach. Any other path returns false so routers compose (the caller sends its 404).
 *
 * The files need no authentication (they hold no secret); the page itself asks for the token
 * and sends it on every REST call and socket.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { protocolCodesModuleSource } from '../../../machines/protocolCodes.js';
import type { Logger } from '../../logger.js';
import { httpPathname } from './httpPath.js';

export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface StaticDeps {
  /** The folder holding index.html, *.js and style.css. Default: found next to this module. */
  playgroundDir?: string;
  /** The @xterm/xterm package folder. Default: resolved from node_modules. */
  xtermDir?: string;
  logger?: Logger;
}

const CONTENT_TYPES = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
} as const;

interface Asset {
  /** `generated`: made from the gateway's own tables, not read from a file (`file` names the generator). */
  from: 'playground' | 'xterm' | 'generated';
  file: string;
  type: keyof typeof CONTENT_TYPES;
}

/** Bodies built at start from code, not files: the page cannot drift from the server's tables. */
const GENERATED: Readonly<Record<string, () => string>> = {
  protocolCodes: protocolCodesModuleSource,
};

/** Every URL path this handler answers. Adding a playground file means adding it here. */
export const STATIC_ASSETS: Readonly<Record<string, Asset>> = {
  '/': { from: 'playground', file: 'index.html', type: 'html' },
  '/index.html': { from: 'playground', file: 'index.html', type: 'html' },
  '/style.css': { from: 'playground', file: 'style.css', type: 'css' },
  '/app.js': { from: 'playground', file: 'app.js', type: 'js' },
  '/socket.js': { from: 'playground', file: 'socket.js', type: 'js' },
  '/chatClient.js': { from: 'playground', file: 'chatClient.js', type: 'js' },
  '/chatView.js': { from: 'playground', file: 'chatView.js', type: 'js' },
  '/shellTab.js': { from: 'playground', file: 'shellTab.js', type: 'js' },
  '/sessionList.js': { from: 'playground', file: 'sessionList.js', type: 'js' },
  '/dom.js': { from: 'playground', file: 'dom.js', type: 'js' },
  '/codes.js': { from: 'generated', file: 'protocolCodes', type: 'js' },
  '/vendor/xterm/xterm.mjs': { from: 'xterm', file: 'lib/xterm.mjs', type: 'js' },
  '/vendor/xterm/xterm.css': { from: 'xterm', file: 'css/xterm.css', type: 'css' },
};

/**
 * The page loads only its own files and talks only to its own origin (REST and sockets);
 * xterm.js adds <style> elements at run time, hence 'unsafe-inline' for styles only.
 */
const PAGE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Source layout: gateway/app/cli/static.ts → gateway/app/playground. Bundled: dist/cli.js →
 * dist/playground when the build copies it there, else the checkout's gateway/app/playground next to dist/.
 */
function findPlaygroundDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'playground'), join(here, 'playground'), join(here, '..', 'gateway', 'app', 'playground')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0];
}

function findXtermDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@xterm/xterm/package.json'));
}

export function createStaticHandler(deps: StaticDeps = {}): StaticHandler {
  let roots: { playground: string; xterm: string } | null = null;
  const rootsOf = () => (roots ??= { playground: deps.playgroundDir ?? findPlaygroundDir(), xterm: deps.xtermDir ?? findXtermDir() });

  async function serve(asset: Asset, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = asset.from === 'generated' ? Buffer.from(GENERATED[asset.file](), 'utf8') : await readFile(join(rootsOf()[asset.from], asset.file));
    const headers: Record<string, string> = {
      'content-type': CONTENT_TYPES[asset.type],
      'content-length': String(body.length),
      // Always revalidate: the page changes with the gateway, and it is small.
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      // The page URL may carry ?token=; it must not leak to anything the page links to.
      'referrer-policy': 'no-referrer',
    };
    if (asset.type === 'html') {
      headers['content-security-policy'] = PAGE_POLICY;
      headers['x-frame-options'] = 'DENY';
    }
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  return (req, res) => {
    const pathname = httpPathname(req.url);
    if (pathname === null) return false;
    if (!Object.hasOwn(STATIC_ASSETS, pathname)) return false;
    const asset = STATIC_ASSETS[pathname];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: `Method ${req.method} not allowed` }));
      return true;
    }
    serve(asset, req, res).catch((error: unknown) => {
      deps.logger?.error('static file failed', { path: pathname, error: error instanceof Error ? error.message : String(error) });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: 'Internal error' }));
    });
    return true;
  };
}
