/**
 * The `before` cursor of the session listing: the position of the last session of a page, as
 * (updatedAt, sessionId). The listing order is (updatedAt desc, sessionId desc), so the pair is
 * unique and paging is stable even when many sessions share a timestamp. Clients treat it as
 * opaque: base64url of a JSON pair, only ever compared after decoding.
 */

/** Thrown for a `before` the store did not make. A RangeError, so callers can answer 400. */
export class SessionCursorError extends RangeError {
  readonly code = 'INVALID_SESSION_CURSOR';
  constructor() {
    super('The session list cursor is not one this store made');
    this.name = 'SessionCursorError';
  }
}

export interface SessionCursor {
  updatedAt: number;
  sessionId: string;
}

export function encodeSessionCursor(cursor: SessionCursor): string {
  return Buffer.from(JSON.stringify([cursor.updatedAt, cursor.sessionId]), 'utf8').toString('base64url');
}

/** Throws `SessionCursorError` for anything `encodeSessionCursor` could not have produced. */
export function decodeSessionCursor(text: string): SessionCursor {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]+$/.test(text)) throw new SessionCursorError();
  let pair: unknown;
  try {
    pair = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new SessionCursorError();
  }
  if (!Array.isArray(pair) || pair.length !== 2) throw new SessionCursorError();
  const [updatedAt, sessionId] = pair as [unknown, unknown];
  if (!Number.isSafeInteger(updatedAt) || typeof sessionId !== 'string') throw new SessionCursorError();
  const cursor = { updatedAt: updatedAt as number, sessionId };
  // Base64 decoding forgives stray bits; only the canonical spelling is one we made.
  if (encodeSessionCursor(cursor) !== text) throw new SessionCursorError();
  return cursor;
}
