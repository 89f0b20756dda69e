/** The example host (examples/host) embeds the gateway; this drives all its routes over real sockets. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { startHost } from '../examples/host/hostServer.js';
import { connect } from './support/chatHarness.js';

test('a claudecodeui-shaped host serves /ws, /shell, /plugin-ws and its own route through the gateway', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-host-'));
  const host = await startHost({ databasePath: join(dir, 'gateway.sqlite') });
  const wsUrl = host.url.replace('http', 'ws');
  try {
    // /ws: the host's own session row, its own runtime.
    const row = host.db.create('claude', dir);
    const chat = await connect(wsUrl, '/ws', host.token);
    chat.send({ type: 'chat.send', sessionId: row.session_id, content: 'hello embedded world' });
    const complete = await chat.waitFor((f) => f.kind === 'complete');
    assert.is(complete.success, true);
    assert.equal(chat.seqs(), [1, 2, 3, 4, 5]);
    assert.ok(host.db.getSessionById(row.session_id)?.provider_session_id?.startsWith('claude-'), 'provider id stored in the host db');
    await chat.waitFor((f) => f.kind === 'session_upserted');

    // /shell: a plain shell in the project directory.
    const shell = await connect(wsUrl, '/shell', host.token);
    shell.send({ type: 'init', projectPath: dir, sessionId: 'term-1', isPlainShell: true, initialCommand: 'echo embedded-$((6*7))', cols: 80, rows: 24 });
    await shell.waitFor((f) => f.type === 'output' && String(f.data).includes('embedded-42'), 10_000);

    // /plugin-ws: the host's fake plugin, text and binary.
    const tunnel = await connect(wsUrl, '/plugin-ws/echo', host.token);
    tunnel.send({ ping: 1 });
    const echoed = await tunnel.waitFor((f) => f.ping === 1);
    assert.equal(echoed, { ping: 1 });
    const missing = await connect(wsUrl, '/plugin-ws/absent', host.token);
    assert.is((await missing.waitForClose()).code, 4404);

    // The host's own route, authenticated like the rest.
    const notifications = await connect(wsUrl, '/desktop-notifications', host.token);
    const hello = await notifications.waitFor((f) => f.kind === 'hello');
    assert.is(hello.user, 'me');

    // The host's REST route reads the gateway's registry.
    const running = await fetch(`${host.url}/api/providers/sessions/running`);
    assert.equal(await running.json(), []);
    assert.is(host.gateway.wss.clients.size, 4);

    const closing = host.close();
    await chat.waitFor((f) => f.kind === 'loading_progress');
    assert.is((await chat.waitForClose()).code, 1001);
    await closing;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
