/**
 * The claudecodeui entry (gateway/hosts/claudecodeui.ts) with stand-ins for claudecodeui's own
 * modules, shaped like them (snake_case rows, its upload-store filter, its model service), on a
 * real server and real sockets. It must do what claudecodeui's websocket module did for its host
 * (issue 14): the session table, the sidebar's session_upserted body (none for an archived
 * session), model/effort per session, only upload-store attachments reach the agent, the
 * /desktop-notifications route, the WebSocketServer as the return value, the log beside its DB.
 * The real claudecodeui is driven by examples/claudecodeui/uiCheck.mjs (not in CI: no clone).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { createClaudeCodeUiWebSocketServer, type ClaudeCodeUiProjectRow, type ClaudeCodeUiSessionRow } from '../gateway/hosts/claudecodeui.js';
import { connect, createScriptedRuntime, TOKEN } from './support/chatHarness.js';

type LLMProvider = 'claude' | 'cursor';
interface Descriptor {
  path: string;
  mimeType: string;
}
const UPLOADS = '/srv/uploads/';

test('claudecodeui entry: its tables, its attachment boundary, its model memory, its routes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-ccui-'));
  const rows = new Map<string, ClaudeCodeUiSessionRow>();
  const row = (id: string, isArchived = 0): ClaudeCodeUiSessionRow => ({
    session_id: id,
    provider: 'cursor',
    provider_session_id: null,
    project_path: '/srv/project',
    custom_name: `chat ${id}`,
    isArchived,
    created_at: '2026-12-06T10:00:00.000Z',
    updated_at: '2026-12-06T11:00:00.000Z',
  });
  rows.set('app-1', row('app-1'));
  rows.set('app-archived', row('app-archived', 1));
  const project: ClaudeCodeUiProjectRow = { project_id: 'proj-1', project_path: '/srv/project', custom_project_name: null, isStarred: 1 };
  const models: string[] = [];
  const notificationSockets: unknown[] = [];
  const host = {
    sessionsDb: {
      getSessionById: (id: string) => rows.get(id) ?? null,
      assignProviderSessionId: (id: string, providerSessionId: string) => void rows.set(id, { ...rows.get(id)!, provider_session_id: providerSessionId }),
    },
    projectsDb: { getProjectPath: (projectPath: string) => (projectPath === project.project_path ? project : null) },
    generateDisplayName: async (name: string) => `Project ${name}`,
    providerModelsService: {
      setSessionModel: (provider: LLMProvider, sessionId: string, model: string) => void models.push(`${provider}/${sessionId} model ${model}`),
      setSessionEffort: (provider: LLMProvider, sessionId: string, effort: string) => void models.push(`${provider}/${sessionId} effort ${effort}`),
    },
    normalizeAttachmentDescriptors: (list: unknown): Descriptor[] =>
      Array.isArray(list) ? list.filter((d): d is Descriptor => typeof d?.path === 'string').map((d) => ({ path: d.path, mimeType: d.mimeType ?? '' })) : [],
    filterAttachmentsToUploadStore: (list: unknown) => (list as Descriptor[]).filter((d) => d.path.startsWith(UPLOADS) && !d.path.slice(UPLOADS.length).includes('/')),
    isImageAttachmentDescriptor: (d: Descriptor) => d.mimeType.startsWith('image/'),
    handleDesktopNotificationsConnection: (ws: unknown) => void notificationSockets.push(ws),
  };
  const runtime = createScriptedRuntime(['cursor']);
  const server = createServer();
  const wss = createClaudeCodeUiWebSocketServer<LLMProvider, Descriptor>(
    server,
    {
      verifyClient: { authenticateWebSocket: (token) => (token === TOKEN ? { id: 1, username: 'compat' } : null) },
      chat: { runtime: runtime as never },
    },
    host,
    dir,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.ok(wss.clients instanceof Set, 'the WebSocketServer itself, as app.locals.wss expects');
    assert.is(wss.gateway.wss, wss);
    assert.ok(existsSync(join(dir, 'agent-gateway.sqlite')), 'the event log beside the host database');

    const watcher = await connect(url);
    const client = await connect(url);
    client.send({
      type: 'chat.send',
      sessionId: 'app-1',
      content: 'look',
      options: {
        model: 'gpt-x',
        effort: 'high',
        permissionMode: 'default',
        images: [{ path: '/etc/passwd', mimeType: 'image/png' }, { path: `${UPLOADS}a.png`, mimeType: 'image/png' }],
        files: [{ path: `${UPLOADS}notes.txt`, mimeType: 'text/plain' }, { path: `${UPLOADS}../../etc/shadow`, mimeType: 'text/plain' }],
        attachments: [{ path: `${UPLOADS}a.png`, mimeType: 'image/png' }],
      },
    });
    const run = await runtime.nextRun();
    assert.equal(run.options.attachments, [
      { path: `${UPLOADS}a.png`, mimeType: 'image/png' },
      { path: `${UPLOADS}notes.txt`, mimeType: 'text/plain' },
    ], 'only upload-store files, each once');
    assert.equal(run.options.images, [{ path: `${UPLOADS}a.png`, mimeType: 'image/png' }]);
    assert.equal(run.options.files, [{ path: `${UPLOADS}notes.txt`, mimeType: 'text/plain' }]);
    assert.not.ok(JSON.stringify(run.options).includes('/etc/'), 'no path outside the upload store reaches the agent');
    assert.is(run.options.permissionMode, 'default', 'other options go through, as in claudecodeui');
    assert.is(run.options.cwd, '/srv/project', 'the row decides where');
    assert.equal(models, ['cursor/app-1 model gpt-x', 'cursor/app-1 effort high']);

    run.writer.send({ kind: 'session_created', newSessionId: 'cursor-native-1' });
    run.writer.send({ kind: 'complete', exitCode: 0 });
    run.resolve();
    const upsert = await watcher.waitFor((f) => f.kind === 'session_upserted');
    assert.is(upsert.sessionId, 'app-1');
    assert.is(upsert.providerSessionId, 'cursor-native-1');
    assert.is(upsert.provider, 'cursor');
    assert.equal(upsert.session, { id: 'app-1', summary: 'chat app-1', messageCount: 0, lastActivity: '2026-12-06T11:00:00.000Z' });
    assert.equal(upsert.project, { projectId: 'proj-1', path: '/srv/project', fullPath: '/srv/project', displayName: 'Project project', isStarred: true });
    assert.is(rows.get('app-1')!.provider_session_id, 'cursor-native-1');

    // An archived session's provider id is stored, but the sidebar is not told.
    client.send({ type: 'chat.send', sessionId: 'app-archived', content: 'x' });
    const archivedRun = await runtime.nextRun();
    archivedRun.writer.send({ kind: 'session_created', newSessionId: 'cursor-native-2' });
    archivedRun.writer.send({ kind: 'complete', exitCode: 0 });
    archivedRun.resolve();
    await client.waitFor((f) => f.kind === 'complete' && f.sessionId === 'app-archived');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.is(rows.get('app-archived')!.provider_session_id, 'cursor-native-2');
    assert.is(watcher.frames.filter((f) => f.kind === 'session_upserted').length, 1);

    const notifications = await connect(url, '/desktop-notifications');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.is(notificationSockets.length, 1, 'the host route got its authenticated socket');
    await Promise.all([notifications.close(), watcher.close(), client.close()]);
  } finally {
    await wss.gateway.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
