/**
 * Compile-time check (run by `npm run typecheck`): a host written like claudecodeui, with its own
 * provider union and its own session rows, must compile against agent-gateway's public types
 * under `strict`. Nothing here runs.
 */
import type { Server } from 'node:http';

import type { WebSocket } from 'ws';

import {
  chatRunRegistry,
  connectedClients,
  createWebSocketServer,
  WS_OPEN_STATE,
  type PermissionDecision,
  type RuntimeWriter,
  type SessionRecord,
} from '../gateway/index.js';

type LLMProvider = 'claude' | 'codex' | 'cursor' | 'opencode';
type AnyRecord = Record<string, unknown>;

interface ProviderRuntimeWriter {
  send(data: unknown): void;
  setSessionId(sessionId: string): void;
  getSessionId(): string | null;
  userId: string | number | null;
  isWebSocketWriter: boolean;
}

// The host's runtime gateway, typed with its own provider union rather than `string`.
const providerRuntime = {
  hasRuntime(provider: string): boolean {
    return ['claude', 'codex', 'cursor', 'opencode'].includes(provider);
  },
  async run(provider: LLMProvider, command: string, options: AnyRecord, writer: ProviderRuntimeWriter): Promise<unknown> {
    writer.send({ kind: 'text', provider, content: command, options });
    return null;
  },
  async abort(_provider: LLMProvider, _sessionId: string): Promise<boolean> {
    return true;
  },
  resolveToolApproval(_requestId: string, _payload: PermissionDecision): void {},
  getPendingApprovalsForSession(_sessionId: string): unknown[] {
    return [];
  },
};

// The host's session rows, in its own column names.
interface SessionRow {
  session_id: string;
  provider: LLMProvider;
  provider_session_id: string | null;
  project_path: string | null;
}
declare const sessionsDb: {
  getSessionById(id: string): SessionRow | null;
  assignProviderSessionId(id: string, providerId: string): void;
};
const toRecord = (row: SessionRow): SessionRecord => ({
  sessionId: row.session_id,
  provider: row.provider,
  providerSessionId: row.provider_session_id,
  projectPath: row.project_path,
});

declare const server: Server;
declare function authenticateWebSocket(token: string | null): { id: number; username: string } | null;
declare function handleDesktopNotificationsConnection(ws: WebSocket, request: unknown): void;

const wss = createWebSocketServer<LLMProvider>(server, {
  verifyClient: { isPlatform: false, authenticateWebSocket },
  chat: { runtime: providerRuntime },
  shell: { resolveProviderSessionId: (sessionId) => sessionsDb.getSessionById(sessionId)?.provider_session_id ?? null },
  getPluginPort: (name) => (name === 'x' ? 4000 : null),
  sessions: {
    getSession: (id) => {
      const row = sessionsDb.getSessionById(id);
      return row ? toRecord(row) : null;
    },
    assignProviderSessionId: (id, providerId) => sessionsDb.assignProviderSessionId(id, providerId),
  },
  routes: { '/desktop-notifications': handleDesktopNotificationsConnection },
});

// The writer the gateway hands to `run` fits the host's writer type.
declare const writer: RuntimeWriter;
const hostWriter: ProviderRuntimeWriter = writer;
void hostWriter;

// Broadcasts the way claudecodeui's modules do them.
for (const client of connectedClients) {
  if (client.readyState === WS_OPEN_STATE) client.send(JSON.stringify({ kind: 'loading_progress', phase: 'loading' }));
}
wss.wss.clients.forEach((client) => client.send('{}'));
const running: Array<{ sessionId: string; provider: string; startedAt: number; lastSeq: number }> =
  chatRunRegistry.listRunningRuns();
void running;
// claudecodeui's sessions.service returns the registry's list as its own provider union.
function listRunningSessions(): Array<{ sessionId: string; provider: LLMProvider; startedAt: number; lastSeq: number }> {
  return chatRunRegistry.listRunningRuns();
}
void listRunningSessions;
void wss.close();
