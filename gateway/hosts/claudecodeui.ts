/**
 * agent-gateway as claudecodeui's websocket module (`server/modules/websocket/index.ts`), with
 * everything its own module did for the host: its session table behind the session store, the
 * sidebar's `session_upserted` body, the model/effort it remembers per session on `chat.send`,
 * the attachment trust boundary (only files inside its upload store reach an agent), its
 * `/desktop-notifications` socket route, the `WebSocketServer` as the return value, and the event
 * log beside its own database. claudecodeui's modules are passed in (`ClaudeCodeUiHost`), typed by
 * what is used of them; examples/claudecodeui/index.ts is the whole adapter.
 */
import path from 'node:path';
import type { Server } from 'node:http';

import type { WebSocketServer } from 'ws';

import type { SessionDescription, SessionStore } from '../../persistence/types.js';
import { createWebSocketServer, type GatewayHandle } from '../createWebSocketServer.js';
import type { ExtraRoutes, GatewayDeps, RunPreparation } from '../types.js';

/** The columns of claudecodeui's `sessions` row this reads. */
export interface ClaudeCodeUiSessionRow {
  session_id: string;
  provider: string;
  provider_session_id: string | null;
  project_path: string | null;
  custom_name: string | null;
  isArchived: number | boolean;
  created_at: string | null;
  updated_at: string | null;
}

/** The columns of claudecodeui's `projects` row this reads. */
export interface ClaudeCodeUiProjectRow {
  project_id: string;
  project_path: string;
  custom_project_name: string | null;
  isStarred: number | boolean | null;
}

/** An attachment as claudecodeui describes it (`server/shared/image-attachments.ts`). */
export interface ClaudeCodeUiAttachment {
  path: string;
}

/** The claudecodeui modules the gateway calls, as the adapter imports them. */
export interface ClaudeCodeUiHost<TProvider extends string, TAttachment extends ClaudeCodeUiAttachment = ClaudeCodeUiAttachment> {
  sessionsDb: {
    getSessionById(sessionId: string): ClaudeCodeUiSessionRow | null | undefined;
    assignProviderSessionId(sessionId: string, providerSessionId: string): void;
  };
  projectsDb: { getProjectPath(projectPath: string): ClaudeCodeUiProjectRow | null | undefined };
  generateDisplayName(projectName: string, actualProjectDir?: string | null): Promise<string>;
  providerModelsService: {
    setSessionModel(provider: TProvider, sessionId: string, model: string): unknown;
    setSessionEffort(provider: TProvider, sessionId: string, effort: string): unknown;
  };
  normalizeAttachmentDescriptors(attachments: unknown): TAttachment[];
  /** Keeps only direct children of claudecodeui's upload store. */
  filterAttachmentsToUploadStore(attachments: unknown): TAttachment[];
  isImageAttachmentDescriptor(descriptor: TAttachment): boolean;
  handleDesktopNotificationsConnection: ExtraRoutes[string];
}

/** What claudecodeui's `server/index.ts` passes to its websocket module. */
export type ClaudeCodeUiDeps<TProvider extends string> = Pick<GatewayDeps<TProvider>, 'verifyClient' | 'chat' | 'shell' | 'getPluginPort'>;

/** The file beside claudecodeui's own database (`DATABASE_PATH`, which its env loader always sets). */
export const CLAUDECODEUI_EVENT_LOG_FILE = 'agent-gateway.sqlite';

/** The host's tables and the display-name helper: what the session store needs. */
type HostTables = Pick<ClaudeCodeUiHost<string>, 'sessionsDb' | 'projectsDb' | 'generateDisplayName'>;

/** The baseline's `session_upserted` body (its chat-run registry), or null for an archived session. */
async function describe(host: HostTables, sessionId: string): Promise<SessionDescription | null> {
  const row = host.sessionsDb.getSessionById(sessionId);
  if (!row || row.isArchived) return null;
  const projectPath = row.project_path;
  const project = projectPath ? host.projectsDb.getProjectPath(projectPath) : null;
  const displayName = project?.custom_project_name?.trim()
    ? project.custom_project_name
    : await host.generateDisplayName(path.basename(projectPath ?? '') || (projectPath ?? ''), projectPath);
  return {
    session: { id: row.session_id, summary: row.custom_name || '', messageCount: 0, lastActivity: row.updated_at ?? row.created_at ?? null },
    project: project
      ? { projectId: project.project_id, path: project.project_path, fullPath: project.project_path, displayName, isStarred: Boolean(project.isStarred) }
      : null,
  };
}

/**
 * What the baseline's chat handler did before calling the runtime: remember the model and
 * effort of the session, and let through only attachments inside the upload store (deduplicated,
 * split into `images` and `files`). Every other client option goes through, as it did there.
 */
function prepareRun<TProvider extends string, TAttachment extends ClaudeCodeUiAttachment>(
  host: ClaudeCodeUiHost<TProvider, TAttachment>,
  run: RunPreparation<TProvider>,
): Record<string, unknown> {
  const { clientOptions: options, provider, sessionId } = run;
  if (typeof options.model === 'string' && options.model.trim()) host.providerModelsService.setSessionModel(provider, sessionId, options.model);
  if (typeof options.effort === 'string' && options.effort.trim()) host.providerModelsService.setSessionEffort(provider, sessionId, options.effort);
  const candidates = [options.images, options.files, options.attachments].flatMap((list) => host.normalizeAttachmentDescriptors(list));
  const verified = host.filterAttachmentsToUploadStore(candidates);
  const attachments = verified.filter((descriptor, index) => verified.findIndex((other) => other.path === descriptor.path) === index);
  return {
    ...options,
    attachments,
    images: attachments.filter((descriptor) => host.isImageAttachmentDescriptor(descriptor)),
    files: attachments.filter((descriptor) => !host.isImageAttachmentDescriptor(descriptor)),
  };
}

/** claudecodeui's session table as the gateway's session store. */
function sessionStore(host: HostTables): SessionStore {
  return {
    getSession(sessionId) {
      const row = host.sessionsDb.getSessionById(sessionId);
      return row ? { sessionId: row.session_id, provider: row.provider, providerSessionId: row.provider_session_id, projectPath: row.project_path } : null;
    },
    assignProviderSessionId: (sessionId, providerSessionId) => host.sessionsDb.assignProviderSessionId(sessionId, providerSessionId),
    describeSession: (sessionId) => describe(host, sessionId),
  };
}

/**
 * claudecodeui's `createWebSocketServer(server, deps)`: returns its `WebSocketServer` (the host
 * keeps it in `app.locals.wss`) with the gateway's handle as `.gateway`.
 */
export function createClaudeCodeUiWebSocketServer<TProvider extends string, TAttachment extends ClaudeCodeUiAttachment>(
  server: Server,
  deps: ClaudeCodeUiDeps<TProvider>,
  host: ClaudeCodeUiHost<TProvider, TAttachment>,
  databaseDir: string = path.dirname(process.env.DATABASE_PATH ?? path.join('.', 'data', 'auth.db')),
): WebSocketServer & { gateway: GatewayHandle } {
  const gateway = createWebSocketServer<TProvider>(server, {
    ...deps,
    chat: { ...deps.chat, prepareRun: (run) => prepareRun(host, run) },
    sessions: sessionStore(host),
    routes: { '/desktop-notifications': host.handleDesktopNotificationsConnection },
    databasePath: path.join(databaseDir, CLAUDECODEUI_EVENT_LOG_FILE),
  });
  return Object.assign(gateway.wss, { gateway });
}
