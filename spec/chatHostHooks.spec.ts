/**
 * Issue 14: the host's say over a run and over `session_upserted`, on real sockets and a real
 * SQLite log. `chat.prepareRun` is the trust boundary between a client's `chat.send` options and
 * a runtime (claudecodeui's own handler let only attachments inside its upload store through);
 * `describeSession` answering null means "not shown" (claudecodeui skips archived sessions).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { RunPreparation } from '../gateway/types.js';
import type { SessionDescription, SessionRecord, SessionStore } from '../persistence/types.js';
import { connect, createScriptedRuntime, startHarness, type ScriptedRun, type TestClient } from './support/chatHarness.js';

/** Ends the run the way a runtime does and waits for the client to see it. */
async function completeAndClose(run: ScriptedRun, client: TestClient): Promise<void> {
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await client.waitFor((f) => f.kind === 'complete');
  await client.close();
}

const attack = { images: [{ path: '/etc/passwd' }], files: [{ path: '/root/.ssh/id_rsa' }], permissionMode: 'bypassPermissions', model: 'm1' };

test('without prepareRun no client option reaches the runtime: not a path, not a permission mode', async () => {
  const runtime = createScriptedRuntime();
  const h = await startHarness(runtime);
  try {
    const sessionId = h.createSession();
    const client = await connect(h.url);
    client.send({ type: 'chat.send', sessionId, content: 'look at this', options: attack });
    const run = await runtime.nextRun();
    assert.equal(run.options, { sessionId, projectPath: h.dir, cwd: h.dir });
    assert.not.ok(JSON.stringify(run.options).includes('/etc/passwd'));
    await completeAndClose(run, client);
  } finally {
    await h.cleanup();
  }
});

test('prepareRun sees the run and the client options; what it returns reaches the runtime, the row still decides where', async () => {
  const runtime = createScriptedRuntime();
  const seen: RunPreparation[] = [];
  const h = await startHarness(runtime, {
    chat: {
      runtime,
      prepareRun(run) {
        seen.push(run);
        const images = (run.clientOptions.images as Array<{ path: string }>).filter((image) => image.path.startsWith('/uploads/'));
        return { model: run.clientOptions.model, images, cwd: '/somewhere/else' };
      },
    },
  });
  try {
    const sessionId = h.createSession();
    const client = await connect(h.url);
    client.send({ type: 'chat.send', sessionId, content: 'hi', options: { ...attack, images: [{ path: '/etc/passwd' }, { path: '/uploads/a.png' }] } });
    const run = await runtime.nextRun();
    assert.is(seen.length, 1);
    assert.is(seen[0].sessionId, sessionId);
    assert.is(seen[0].provider, 'scripted');
    assert.is(seen[0].projectPath, h.dir);
    assert.is(seen[0].content, 'hi');
    assert.is(seen[0].userId, 'u1');
    assert.is(seen[0].clientOptions.permissionMode, 'bypassPermissions', 'the hook sees what the client sent');
    assert.equal(run.options, { model: 'm1', images: [{ path: '/uploads/a.png' }], sessionId, projectPath: h.dir, cwd: h.dir });
    await completeAndClose(run, client);
  } finally {
    await h.cleanup();
  }
});

test('a prepareRun that throws fails the run like a runtime error: an error event, then its one complete', async () => {
  const runtime = createScriptedRuntime();
  const h = await startHarness(runtime, {
    chat: {
      runtime,
      prepareRun() {
        throw new Error('attachment outside the upload store');
      },
    },
  });
  try {
    const sessionId = h.createSession();
    const client = await connect(h.url);
    client.send({ type: 'chat.send', sessionId, content: 'hi', options: attack });
    const complete = await client.waitFor((f) => f.kind === 'complete');
    assert.is(complete.exitCode, 1);
    assert.is(complete.success, false);
    const error = client.frames.find((f) => f.kind === 'error');
    assert.match(String(error?.content), /attachment outside the upload store/);
    assert.is(runtime.runs.length, 0, 'the runtime never started');
    await client.close();
  } finally {
    await h.cleanup();
  }
});

test('session_upserted names providerSessionId; describeSession null sends none', async () => {
  const runtime = createScriptedRuntime();
  const rows = new Map<string, SessionRecord>();
  const archived = new Set<string>();
  const described: SessionDescription = {
    session: { id: 'shown', summary: 'A chat', messageCount: 3, lastActivity: '2026-12-06T00:00:00.000Z' },
    project: { projectId: 'p1', path: '/srv/p', fullPath: '/srv/p', displayName: 'p', isStarred: false },
  };
  const sessions: SessionStore = {
    getSession: (id) => rows.get(id) ?? null,
    assignProviderSessionId: (id, providerSessionId) => void rows.set(id, { ...rows.get(id)!, providerSessionId }),
    describeSession: (id) => (archived.has(id) ? null : { ...described, session: { ...described.session, id } }),
  };
  for (const id of ['shown', 'hidden']) rows.set(id, { sessionId: id, provider: 'scripted', providerSessionId: null, projectPath: '/srv/p' });
  archived.add('hidden');
  const h = await startHarness(runtime, { sessions });
  try {
    const watcher = await connect(h.url);
    const client = await connect(h.url);
    for (const sessionId of ['hidden', 'shown']) {
      client.send({ type: 'chat.send', sessionId, content: 'x' });
      const run = await runtime.nextRun();
      run.writer.send({ kind: 'session_created', newSessionId: `native-${sessionId}` });
      run.writer.send({ kind: 'complete', exitCode: 0 });
      run.resolve();
      await client.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId);
    }
    const upsert = await watcher.waitFor((f) => f.kind === 'session_upserted');
    assert.is(upsert.sessionId, 'shown');
    assert.is(upsert.providerSessionId, 'native-shown');
    assert.equal(upsert.project, described.project);
    assert.equal(upsert.session, { ...described.session, id: 'shown' });
    assert.is(rows.get('hidden')!.providerSessionId, 'native-hidden', 'the id is stored all the same');
    assert.is(watcher.frames.filter((f) => f.kind === 'session_upserted').length, 1, 'nothing for the archived session');
    await Promise.all([watcher.close(), client.close()]);
  } finally {
    await h.cleanup();
  }
});

test.run();
