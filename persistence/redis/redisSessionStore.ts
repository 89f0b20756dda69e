/**
 * The session store on Redis (`ClusterSessionStore`): a hash per session (`session:{sid}`) and the
 * listing index `sessions` (a sorted set, score = updatedAt). Same meaning as the SQLite store
 * (`sessionStore.ts`): createdAt/updatedAt in epoch ms, updatedAt only moves forward (a record
 * change, a run starting or completing), pages newest activity first with ties by id descending,
 * `SessionLimitError` from a create past `maxSessions` (counted and inserted in one script),
 * `SessionCursorError` for a cursor this store did not make.
 *
 * The cursor is `r1.` + base64url of `[updatedAt, sessionId]`, at most `MAX_SESSION_CURSOR_CHARS`
 * long, and only accepted in its canonical spelling.
 */
import { randomUUID } from 'node:crypto';

import type { Redis } from 'ioredis';

import type { ClusterSessionStore } from '../cluster/types.js';
import { decodeSessionCursor, encodeSessionCursor, SessionCursorError, type SessionCursor } from '../sessionCursor.js';
import { SessionLimitError, sessionPageLimit, type CreateSessionInput } from '../sessionStoreApi.js';
import type { ListedSession, SessionDescription, SessionPage, SessionPageRequest, SessionRecord } from '../types.js';
import type { RedisKeys } from './keys.js';
import type { ConnectionStatus } from './redisConnections.js';
import { hashFields } from './replies.js';
import type { RedisScripts, ScriptArg, ScriptName } from './scripts.js';

/** The longest `before` cursor accepted (a cursor holds one session id). */
export const MAX_SESSION_CURSOR_CHARS = 2_048;
const CURSOR_PREFIX = 'r1.';

/** Thrown by `createSession` when the id is stored already; nothing was written. */
export class SessionExistsError extends Error {
  readonly code = 'SESSION_EXISTS';
  constructor(readonly sessionId: string) {
    super(`A session with id ${sessionId} exists already`);
    this.name = 'SessionExistsError';
  }
}

export function encodeRedisSessionCursor(cursor: SessionCursor): string {
  return CURSOR_PREFIX + encodeSessionCursor(cursor);
}

/** Throws `SessionCursorError` for anything `encodeRedisSessionCursor` could not have produced. */
export function decodeRedisSessionCursor(text: unknown): SessionCursor {
  if (typeof text !== 'string' || text.length > MAX_SESSION_CURSOR_CHARS || !text.startsWith(CURSOR_PREFIX)) {
    throw new SessionCursorError();
  }
  // The SQLite store's cursor behind the prefix, in its canonical spelling only.
  return decodeSessionCursor(text.slice(CURSOR_PREFIX.length));
}

function toRecord(sessionId: string, fields: Record<string, string>): SessionRecord | null {
  if (fields.provider === undefined) return null;
  return {
    sessionId,
    provider: fields.provider,
    providerSessionId: fields.providerSessionId ?? null,
    projectPath: fields.projectPath ?? null,
  };
}

function toListed(sessionId: string, fields: Record<string, string>): ListedSession | null {
  const record = toRecord(sessionId, fields);
  if (record === null) return null;
  return { ...record, createdAt: Number(fields.createdAt) || 0, updatedAt: Number(fields.updatedAt) || 0 };
}

export interface RedisSessionStoreParts {
  command: Redis;
  scripts: RedisScripts;
  keys: RedisKeys;
  status: ConnectionStatus;
}

export class RedisSessionStore implements ClusterSessionStore {
  private readonly now: () => number;

  constructor(
    private readonly parts: RedisSessionStoreParts,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  async getSession(sessionId: string): Promise<SessionRecord | null> {
    const fields = await this.call(() => this.parts.command.hgetall(this.parts.keys.session(sessionId)));
    return toRecord(sessionId, hashFields(fields));
  }

  async assignProviderSessionId(sessionId: string, providerSessionId: string): Promise<void> {
    const { keys } = this.parts;
    await this.script('agAssignProviderSession', [keys.session(sessionId), keys.sessions], [sessionId, providerSessionId, this.now()]);
  }

  async describeSession(sessionId: string): Promise<SessionDescription | null> {
    const { command, keys } = this.parts;
    const results = await this.call(() => command.pipeline().hgetall(keys.session(sessionId)).xlen(keys.log(sessionId)).exec());
    const [[fieldsError, rawFields], [countError, count]] = results ?? [];
    if (fieldsError) throw fieldsError;
    if (countError) throw countError;
    const fields = hashFields(rawFields);
    const listed = toListed(sessionId, fields);
    if (listed === null) return null;
    return {
      session: {
        id: sessionId,
        summary: fields.summary ?? null,
        messageCount: Number(count) || 0,
        lastActivity: new Date(listed.updatedAt).toISOString(),
      },
      project: listed.projectPath === null ? null : { path: listed.projectPath },
    };
  }

  async createSession(input: CreateSessionInput, options: { maxSessions?: number } = {}): Promise<ListedSession> {
    if (typeof input.provider !== 'string') throw new TypeError('A session needs a string provider');
    const { maxSessions } = options;
    if (maxSessions !== undefined && (!Number.isInteger(maxSessions) || maxSessions < 0)) {
      throw new RangeError(`maxSessions must be an integer >= 0, got ${String(maxSessions)}`);
    }
    const sessionId = input.sessionId ?? randomUUID();
    const at = this.now();
    const fields: ScriptArg[] = ['provider', input.provider];
    const projectPath = input.projectPath ?? null;
    const summary = input.summary ?? null;
    if (projectPath !== null) fields.push('projectPath', projectPath);
    if (summary !== null) fields.push('summary', summary);
    const { keys } = this.parts;
    const reply = await this.script(
      'agCreateSession',
      [keys.session(sessionId), keys.sessions],
      [sessionId, at, maxSessions === undefined ? '' : maxSessions, ...fields],
    );
    if (reply === 'exists') throw new SessionExistsError(sessionId);
    if (reply === 'limit') throw new SessionLimitError(maxSessions ?? 0);
    return { sessionId, provider: input.provider, providerSessionId: null, projectPath, createdAt: at, updatedAt: at };
  }

  async listSessions(request: SessionPageRequest = {}): Promise<SessionPage> {
    const limit = sessionPageLimit(request.limit);
    const before = request.before ?? null;
    const cursor = before === null ? null : decodeRedisSessionCursor(before);
    const { command, keys } = this.parts;
    // One more than the page says whether another page follows.
    const raw = await this.script('agListSessions', [keys.sessions], [
      limit + 1,
      cursor === null ? '0' : '1',
      cursor === null ? 0 : cursor.updatedAt,
      cursor === null ? '' : cursor.sessionId,
    ]);
    const flat = Array.isArray(raw) ? (raw as unknown[]) : [];
    const ids: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      ids.push(String(flat[i]));
      scores.push(Number(flat[i + 1]));
    }
    const pageIds = ids.slice(0, limit);
    const sessions: ListedSession[] = [];
    if (pageIds.length > 0) {
      const pipeline = command.pipeline();
      for (const sessionId of pageIds) pipeline.hgetall(keys.session(sessionId));
      const results = await this.call(() => pipeline.exec());
      pageIds.forEach((sessionId, i) => {
        const [error, fields] = results?.[i] ?? [new Error('no reply'), null];
        if (error) throw error;
        // Deleted between the two reads: left out of the page.
        const listed = toListed(sessionId, hashFields(fields));
        // The listing's order is the index's: its score is the updatedAt the cursor continues from.
        if (listed !== null) sessions.push({ ...listed, updatedAt: scores[i] });
      });
    }
    const last = pageIds.length - 1;
    return {
      sessions,
      nextBefore: ids.length > limit ? encodeRedisSessionCursor({ updatedAt: scores[last], sessionId: pageIds[last] }) : null,
    };
  }

  async deleteSession(sessionId: string): Promise<boolean> {
    const { keys } = this.parts;
    const reply = await this.script('agDeleteSession', [keys.session(sessionId), keys.sessions], [sessionId]);
    return Number(reply) === 1;
  }

  async touch(sessionId: string, at: number): Promise<void> {
    if (!Number.isFinite(at)) throw new TypeError('touch needs a finite time');
    const { keys } = this.parts;
    await this.script('agTouch', [keys.sessions, keys.session(sessionId)], [sessionId, Math.trunc(at)]);
  }

  private script(name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return this.call(() => this.parts.scripts.run(name, keys, args));
  }

  private call<T>(run: () => Promise<T>): Promise<T> {
    return this.parts.status.track(run);
  }
}
