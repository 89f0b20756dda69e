/**
 * The small HTTP vocabulary of the standalone server's REST routes: a refusal with a status and
 * an optional code, JSON answers, a bounded body reader and strict query numbers. No routing here
 * (rest.ts routes; restSessions.ts answers the session routes).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A refusal the client is told about: `{ error }`, plus `code` when a program must tell it apart. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Sent as the body's `code` when given. */
    readonly code?: string,
  ) {
    super(message);
  }
}

export function sendText(req: IncomingMessage, res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(req, res, status, JSON.stringify(body), headers);
}

/** 204: nothing to say (no body, no content type). */
export function sendNoContent(res: ServerResponse): void {
  res.writeHead(204, { 'cache-control': 'no-store' });
  res.end();
}

/** Reads the whole body, refusing (413) as soon as it is known to exceed `limit`. */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new HttpError(413, `Request body exceeds ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error: Error | null) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        finish(new HttpError(413, `Request body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(null);
    const onError = (error: Error) => finish(error);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** The query string of a request target (`/p?a=1` → `a=1`), parsed. */
export function queryOf(req: IncomingMessage): URLSearchParams {
  const target = req.url ?? '';
  const at = target.indexOf('?');
  return new URLSearchParams(at === -1 ? '' : target.slice(at + 1));
}

/**
 * A whole number from the query, or `fallback` when the parameter is absent. Anything else
 * (`-1`, `1.5`, `abc`, a number below `min`, given twice) is a 400 naming the parameter.
 */
export function queryInteger(query: URLSearchParams, name: string, fallback: number, min: number): number {
  const values = query.getAll(name);
  if (values.length === 0) return fallback;
  if (values.length > 1) throw new HttpError(400, `${name} is given more than once`);
  const text = values[0];
  if (!/^\d{1,15}$/.test(text)) throw new HttpError(400, `${name} must be a whole number, got "${text.slice(0, 32)}"`);
  const value = Number(text);
  if (value < min) throw new HttpError(400, `${name} must be at least ${min}, got ${value}`);
  return value;
}
