/**
 * The few REST routes a client of the standalone server needs besides the sockets:
 *   GET  /healthz                          no auth; 200 with the health object (degraded still serves)
 *   POST /api/providers/sessions           { provider, projectPath } → 201 { sessionId } | 400 | 507 (store full)
 *   GET  /api/providers/sessions           ?limit=&before= → 200 { sessions, nextBefore } (when given; restSessions.ts)
 *   GET  /api/providers/sessions/running   → 200 [{ sessionId, provider, startedAt, lastSeq, nodeId? }]
 *   GET  /api/providers/sessions/:id       → 200 { sessionId, provider, projectPath } | 404
 *   DELETE /api/providers/sessions/:id     → 204 | 404 | 409 while running (when given)
 *   GET  /api/providers/sessions/:id/messages ?afterSeq=&limit= → 200 { messages, hasMore, oldestSeq, latestSeq } (when given)
 *   GET  /api/actors                       → 200 { chat: [...], shell: [...] } live actors and states (when given)
 *   GET  /api/config                       → 200 { defaultProjectPath, providers, … } for a client's forms (when given)
 * Every route but /healthz needs `Authorization: Bearer <token>`. Errors are JSON `{ error }`, plus
 * `code` where a client needs to tell one refusal from another (a limit that was hit).
 * The handler answers only its own paths and returns false for any other, so routers compose
 * (the caller sends its 404). Every dep may answer with a promise (a cluster backend: clusterRest.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { SessionLimitError, type CreateSessionOptions } from '../../../persistence/sessionStore.js';
import type { SessionRecord } from '../../../persistence/types.js';
import { DEFAULT_LIMITS } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { WorkspaceCheck, WorkspaceCheckOptions } from '../../shell/shellWorkspace.js';
import { httpPathname } from './httpPath.js';
import { HttpError, readBody, sendJson } from './restHttp.js';
import { deleteSession, listSessions, sessionHistory, type SessionRoutesDeps } from './restSessions.js';

/** A session-creation request is two short strings; anything near this size is not one. */
export const REST_MAX_BODY_BYTES = 64 * 1024;

export interface RunningRunSummary {
  sessionId: string;
  provider: string;
  /** Epoch milliseconds. */
  startedAt: number;
  lastSeq: number;
  /** [cluster] The node that runs it (every node lists the whole cluster's runs). */
  nodeId?: string;
}

type MaybePromise<T> = T | Promise<T>;

export interface RestDeps {
  token: string;
  sessions: {
    /** Must refuse with SessionLimitError when `options.maxSessions` sessions are stored already. */
    createSession(input: { provider: string; projectPath: string }, options: Required<CreateSessionOptions>): MaybePromise<Pick<SessionRecord, 'sessionId'>>;
    /** Serves GET /api/providers/sessions/:id when given. */
    getSession?(sessionId: string): MaybePromise<SessionRecord | null>;
  };
  /** Providers a session may be created for. */
  providers(): string[];
  listRunningRuns(): MaybePromise<RunningRunSummary[]>;
  health(): MaybePromise<Record<string, unknown>>;
  /** Serves GET /api/actors when given: a read-only view for the playground's state panel. */
  listActors?(): MaybePromise<Record<string, unknown>>;
  /** Serves GET /api/config when given: defaults a client shows in its forms. */
  clientConfig?(): MaybePromise<Record<string, unknown>>;
  /**
   * Where sessions may point: checks (and resolves) `projectPath` before a session is created,
   * refusing with `400 { error, code }`. Absent: any string up to maxProjectPathBytes is stored.
   */
  workspace?: { check(requested: string, options: WorkspaceCheckOptions): Promise<WorkspaceCheck> };
  /** Serves GET /api/providers/sessions (list), DELETE …/:id and GET …/:id/messages when given. */
  sessionRoutes?: SessionRoutesDeps;
  logger?: Logger;
  /** Default REST_MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /** Default DEFAULT_LIMITS.maxProjectPathBytes. */
  maxProjectPathBytes?: number;
  /** Default DEFAULT_LIMITS.maxStoredSessions. */
  maxStoredSessions?: number;
}

export type RestHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

type Route =
  | { name: 'health' }
  | { name: 'sessions' }
  | { name: 'runningRuns' }
  | { name: 'actors' }
  | { name: 'config' }
  | { name: 'session'; sessionId: string | null }
  | { name: 'messages'; sessionId: string | null };

const SESSIONS_PATH = '/api/providers/sessions';

/** A path segment, decoded; null when its %-escapes are malformed. */
function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

function matchRoute(pathname: string, deps: RestDeps): Route | null {
  if (pathname === '/healthz') return { name: 'health' };
  if (pathname === '/api/actors' && deps.listActors) return { name: 'actors' };
  if (pathname === '/api/config' && deps.clientConfig) return { name: 'config' };
  if (pathname === SESSIONS_PATH) return { name: 'sessions' };
  if (pathname === `${SESSIONS_PATH}/running`) return { name: 'runningRuns' };
  const prefix = `${SESSIONS_PATH}/`;
  if (!pathname.startsWith(prefix)) return null;
  const segments = pathname.slice(prefix.length).split('/');
  if (segments[0] === '') return null;
  if (segments.length === 1 && (deps.sessions.getSession || deps.sessionRoutes)) return { name: 'session', sessionId: decodeSegment(segments[0]) };
  if (segments.length === 2 && segments[1] === 'messages' && deps.sessionRoutes) return { name: 'messages', sessionId: decodeSegment(segments[0]) };
  return null;
}

/** The methods a route answers, given what the deps serve. */
function allowedMethods(route: Route['name'], deps: RestDeps): string[] {
  switch (route) {
    case 'sessions':
      return deps.sessionRoutes ? ['GET', 'HEAD', 'POST'] : ['POST'];
    case 'session':
      return [...(deps.sessions.getSession ? ['GET', 'HEAD'] : []), ...(deps.sessionRoutes ? ['DELETE'] : [])];
    default:
      return ['GET', 'HEAD'];
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function parseCreateSession(text: string, providers: string[], maxProjectPathBytes: number): { provider: string; projectPath: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Request body is not valid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'Request body must be a JSON object');
  const { provider, projectPath } = body as Record<string, unknown>;
  if (typeof provider !== 'string' || provider.trim() === '') throw new HttpError(400, 'provider is required');
  if (!providers.includes(provider)) {
    const shown = provider.length > 64 ? `${provider.slice(0, 64)}…` : provider;
    throw new HttpError(400, `Unknown provider "${shown}"; known: ${providers.join(', ') || 'none'}`);
  }
  if (typeof projectPath !== 'string') throw new HttpError(400, 'projectPath must be a string');
  // `provider` is one of a fixed list; the body as a whole is capped by maxBodyBytes.
  if (Buffer.byteLength(projectPath, 'utf8') > maxProjectPathBytes) {
    throw new HttpError(400, `projectPath is longer than ${maxProjectPathBytes} bytes (maxProjectPathBytes)`, 'PROJECT_PATH_TOO_LONG');
  }
  return { provider, projectPath };
}

export function createRestHandler(deps: RestDeps): RestHandler {
  const expectedToken = digest(deps.token);
  const maxBodyBytes = deps.maxBodyBytes ?? REST_MAX_BODY_BYTES;
  const maxProjectPathBytes = deps.maxProjectPathBytes ?? DEFAULT_LIMITS.maxProjectPathBytes;
  const maxStoredSessions = deps.maxStoredSessions ?? DEFAULT_LIMITS.maxStoredSessions;

  /** Digests make both sides the same length, so the comparison leaks neither content nor length. */
  function isAuthorized(req: IncomingMessage): boolean {
    const header = req.headers.authorization;
    if (typeof header !== 'string') return false;
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) return false;
    return timingSafeEqual(digest(match[1]), expectedToken);
  }

  /** Routing and allowedMethods() reach the session routes only when they are given. */
  function sessionRoutes(): SessionRoutesDeps {
    if (!deps.sessionRoutes) throw new Error('session routes are not configured');
    return deps.sessionRoutes;
  }

  async function serve(route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (route.name !== 'health' && !isAuthorized(req)) {
      throw new HttpError(401, 'Missing or invalid bearer token');
    }
    const allowed = allowedMethods(route.name, deps);
    if (!allowed.includes(req.method ?? '')) {
      sendJson(req, res, 405, { error: `Method ${req.method} not allowed` }, { allow: allowed.join(', ') });
      return;
    }
    switch (route.name) {
      case 'health': {
        sendJson(req, res, 200, { status: 'ok', ...(await deps.health()) });
        return;
      }
      case 'runningRuns': {
        sendJson(req, res, 200, await deps.listRunningRuns());
        return;
      }
      case 'actors': {
        sendJson(req, res, 200, (await deps.listActors?.()) ?? {});
        return;
      }
      case 'config': {
        sendJson(req, res, 200, (await deps.clientConfig?.()) ?? {});
        return;
      }
      case 'sessions': {
        if (req.method !== 'POST') return listSessions(sessionRoutes(), req, res);
        const input = parseCreateSession(await readBody(req, maxBodyBytes), deps.providers(), maxProjectPathBytes);
        if (deps.workspace) {
          const place = await deps.workspace.check(input.projectPath, { requireAbsolute: true });
          if (!place.ok) throw new HttpError(400, place.error, place.code);
          // The resolved directory is stored: what a later shell or run will actually use.
          input.projectPath = place.path;
        }
        let record: Pick<SessionRecord, 'sessionId'>;
        try {
          record = await deps.sessions.createSession(input, { maxSessions: maxStoredSessions });
        } catch (error) {
          if (!(error instanceof SessionLimitError)) throw error;
          // 507: the server's store is full; retrying will not help until sessions are removed.
          throw new HttpError(507, `Session store is full: ${error.limit} sessions are stored (maxStoredSessions)`, 'MAX_STORED_SESSIONS');
        }
        sendJson(req, res, 201, { sessionId: record.sessionId });
        return;
      }
      case 'messages': {
        if (route.sessionId === null) throw new HttpError(400, 'Malformed session id');
        return sessionHistory(sessionRoutes(), route.sessionId, req, res);
      }
      case 'session': {
        if (route.sessionId === null) throw new HttpError(400, 'Malformed session id');
        if (req.method === 'DELETE') return deleteSession(sessionRoutes(), route.sessionId, res);
        const record = await deps.sessions.getSession?.(route.sessionId);
        if (!record) throw new HttpError(404, 'Session not found');
        // Never the provider-native id: clients only know app session ids.
        sendJson(req, res, 200, { sessionId: record.sessionId, provider: record.provider, projectPath: record.projectPath });
        return;
      }
    }
  }

  function fail(req: IncomingMessage, res: ServerResponse, route: Route, error: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error instanceof HttpError) {
      const headers: Record<string, string> = {};
      if (error.status === 401) headers['www-authenticate'] = 'Bearer';
      // The rest of an oversized body is not worth reading: answer and drop the connection.
      if (error.status === 413) headers.connection = 'close';
      sendJson(req, res, error.status, error.code === undefined ? { error: error.message } : { error: error.message, code: error.code }, headers);
      return;
    }
    deps.logger?.error('REST request failed', { route: route.name, method: req.method, error: error instanceof Error ? error.message : String(error) });
    sendJson(req, res, 500, { error: 'Internal error' });
  }

  return (req, res) => {
    const pathname = httpPathname(req.url);
    if (pathname === null) return false;
    const route = matchRoute(pathname, deps);
    if (!route) return false;
    serve(route, req, res).catch((error: unknown) => fail(req, res, route, error));
    return true;
  };
}
