/**
 * A small host server, shaped like claudecodeui's, that embeds agent-gateway: plain node:http,
 * its own session table (its column names, its provider union), its own provider runtime, a
 * plugin registry with one fake plugin, and a host route of its own on the same server.
 *
 * A real host imports from 'agent-gateway'; this example imports the source so it runs in the
 * repository without a build.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { WebSocketServer } from 'ws';

import {
  createWebSocketServer,
  silentLogger,
  WS_OPEN_STATE,
  type GatewayHandle,
  type PermissionDecision,
  type RuntimeWriter,
} from '../../gateway/index.js';

type LLMProvider = 'claude' | 'codex' | 'cursor' | 'opencode';

/** The host's own session rows, in its own column names. */
interface SessionRow {
  session_id: string;
  provider: LLMProvider;
  provider_session_id: string | null;
  project_path: string | null;
}

/** The host's own database (a Map here; SQLite or Postgres in a real host). */
export class SessionsDb {
  readonly rows = new Map<string, SessionRow>();
  create(provider: LLMProvider, projectPath: string): SessionRow {
    const row = { session_id: randomUUID(), provider, provider_session_id: null, project_path: projectPath };
    this.rows.set(row.session_id, row);
    return row;
  }
  getSessionById(id: string): SessionRow | null {
    return this.rows.get(id) ?? null;
  }
  /** claudecodeui merges duplicate rows that point at the same provider session. */
  assignProviderSessionId(id: string, providerSessionId: string): void {
    for (const row of this.rows.values()) {
      if (row.session_id !== id && row.provider_session_id === providerSessionId) this.rows.delete(row.session_id);
    }
    const row = this.rows.get(id);
    if (row) row.provider_session_id = providerSessionId;
  }
}

/** The host's provider runtime: a stand-in "claude" that echoes the prompt word by word. */
function createEchoRuntime() {
  const pending = new Map<string, (decision: PermissionDecision) => void>();
  return {
    hasRuntime: (provider: string) => provider === 'claude',
    async run(provider: LLMProvider, command: string, _options: Record<string, unknown>, writer: RuntimeWriter) {
      if (!writer.getSessionId()) writer.send({ kind: 'session_created', newSessionId: `claude-${randomUUID()}` });
      for (const word of command.split(/\s+/).filter(Boolean)) writer.send({ kind: 'stream_delta', provider, content: `${word} ` });
      writer.send({ kind: 'stream_end', provider });
      writer.send({ kind: 'complete', provider, exitCode: 0 });
    },
    async abort(_provider: LLMProvider, _sessionId: string) {
      return true;
    },
    resolveToolApproval(requestId: string, decision: PermissionDecision) {
      pending.get(requestId)?.(decision);
    },
    getPendingApprovalsForSession: (_sessionId: string): unknown[] => [],
  };
}

export interface Host {
  url: string;
  port: number;
  token: string;
  db: SessionsDb;
  gateway: GatewayHandle;
  close(): Promise<void>;
}

export async function startHost(options: { databasePath: string; token?: string }): Promise<Host> {
  const token = options.token ?? randomUUID();
  const db = new SessionsDb();
  const runtime = createEchoRuntime();

  // A plugin the host runs itself: a WebSocket echo server on a loopback port.
  const plugin = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });
  await new Promise((resolve) => plugin.once('listening', resolve));
  plugin.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  const pluginPorts: Record<string, number> = { echo: (plugin.address() as AddressInfo).port };

  let gateway: GatewayHandle;
  const server: Server = createServer((req, res) => {
    if (req.url === '/api/providers/sessions/running') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(gateway.chatRunRegistry.listRunningRuns()));
      return;
    }
    res.statusCode = 404;
    res.end();
  });

  // ---- the adapter: everything the host writes to embed the gateway ----
  gateway = createWebSocketServer<LLMProvider>(server, {
    verifyClient: { isPlatform: false, authenticateWebSocket: (t) => (t === token ? { id: 1, username: 'me' } : null) },
    chat: { runtime },
    shell: { resolveProviderSessionId: (id) => db.getSessionById(id)?.provider_session_id ?? null },
    getPluginPort: (name) => pluginPorts[name] ?? null,
    sessions: {
      getSession: (id) => {
        const row = db.getSessionById(id);
        return row && { sessionId: row.session_id, provider: row.provider, providerSessionId: row.provider_session_id, projectPath: row.project_path };
      },
      assignProviderSessionId: (id, providerId) => db.assignProviderSessionId(id, providerId),
    },
    routes: { '/desktop-notifications': (ws, request: IncomingMessage & { user?: { username?: unknown } }) => ws.send(JSON.stringify({ kind: 'hello', user: request.user?.username })) },
    databasePath: options.databasePath,
    logger: silentLogger,
  });
  // ---- end of the adapter ----

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    token,
    db,
    gateway,
    async close() {
      // The host's broadcasts go through the same sockets the gateway serves.
      for (const ws of gateway.connectedClients) {
        if (ws.readyState === WS_OPEN_STATE) ws.send(JSON.stringify({ kind: 'loading_progress', phase: 'complete', current: 1, total: 1 }));
      }
      await gateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => plugin.close(() => resolve()));
    },
  };
}
