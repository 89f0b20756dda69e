/**
 * Graceful shutdown, on the real CLI (SIGTERM, SIGINT) and in-process (close()): 1001 to every
 * socket, running runs completed with `aborted: true`, PTYs killed, tunnels closed, the log
 * flushed, and the process gone with exit code 0 within a bound, even when a client has stopped
 * reading its socket (it can never answer the closing handshake).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';

import { connect, createScriptedRuntime, type TestClient } from '../support/chatHarness.js';
import { startCli, type CliChild } from '../support/cliProcess.js';
import { processAlive } from '../support/shellHarness.js';
import { createCliSession, exitWithin, readStore, wsUrl } from './support/cliSession.js';
import { startEchoPlugin, startReliabilityGateway, waitUntil } from './support/gateway.js';

/** Exit must come well before the CLI's own 10 s forced exit (which exits 1). */
const EXIT_BOUND_MS = 6000;

const test = suite('reliability: graceful shutdown');

interface LiveRoutes {
  chat: TestClient;
  silent: WebSocket;
  shell: TestClient;
  plugin: TestClient;
  ptyPid: number;
  sessionId: string;
}

/** A streaming demo run, a client that stopped reading, a PTY and an open tunnel. */
async function openEverything(base: string, token: string, sessionId: string, dir: string): Promise<LiveRoutes> {
  const chat = await connect(base, '/ws', token);
  chat.send({ type: 'chat.send', sessionId, content: 'explain the gateway /no-tool' });
  await chat.waitFor((f) => f.kind === 'stream_delta', 10_000);
  // A second subscriber whose socket is never read again: its closing handshake cannot complete.
  const silent = new WebSocket(`${base}/ws?token=${token}`);
  await new Promise((resolve, reject) => {
    silent.once('open', resolve);
    silent.once('error', reject);
  });
  silent.on('error', () => {});
  silent.send(JSON.stringify({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] }));
  await new Promise((resolve) => silent.once('message', resolve));
  (silent as unknown as { _socket: { pause(): void } })._socket.pause();

  const shell = await connect(base, '/shell', token);
  shell.send({ type: 'init', projectPath: dir, isPlainShell: true, initialCommand: 'echo PID=$$; exec sleep 600' });
  const pidFrame = await shell.waitFor((f) => typeof f.data === 'string' && /PID=\d+/.test(f.data), 10_000);
  const ptyPid = Number(/PID=(\d+)/.exec(String(pidFrame.data))![1]);

  const plugin = await connect(base, '/plugin-ws/echo', token);
  // chatHarness clients parse frames as JSON, so the echo plugin gets JSON text.
  plugin.send({ kind: 'ping' });
  await plugin.waitFor((f) => f.kind === 'ping', 5000);
  return { chat, silent, shell, plugin, ptyPid, sessionId };
}

async function assertShutDown(live: LiveRoutes) {
  for (const [name, client] of [['chat', live.chat], ['shell', live.shell], ['plugin', live.plugin]] as const) {
    const closed = await client.waitForClose(EXIT_BOUND_MS);
    assert.is(closed.code, 1001, `${name} socket closed with 1001`);
  }
  const completes = live.chat.frames.filter((f) => f.kind === 'complete');
  assert.is(completes.length, 1, 'the running run got exactly one complete');
  assert.is(completes[0].aborted, true);
  await waitUntil(() => !processAlive(live.ptyPid), 'the PTY process to be gone', 5000);
}

async function cliShutdown(signal: 'SIGTERM' | 'SIGINT') {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-shutdown-'));
  const upstream = await startEchoPlugin();
  let cli: CliChild | null = null;
  try {
    cli = await startCli(['--port', '0', '--data-dir', dataDir, '--demo-pace-ms', '30', '--log-level', 'warn', '--plugin', `echo=${upstream.port}`]);
    const sessionId = await createCliSession(cli, dataDir);
    const live = await openEverything(wsUrl(cli), cli.token, sessionId, dataDir);
    const since = Date.now();
    cli.child.kill(signal);
    const exit = await exitWithin(cli, since, EXIT_BOUND_MS);
    console.log(`  ${signal}: exit ${exit.code} after ${exit.ms} ms`);
    assert.is(exit.code, 0, `exit code (output: ${cli.output().slice(-500)})`);
    await assertShutDown(live);
    await waitUntil(() => upstream.closes.length === 1, 'the upstream plugin connection to close', 5000);
    // The log was flushed: every event the client saw is on disk, the run is completed.
    const seen = live.chat.seqs(sessionId);
    const stored = readStore(dataDir, sessionId);
    assert.is(stored.integrity, 'ok');
    assert.equal(stored.events.map((e) => e.seq), seen, 'the log holds exactly what the client saw');
    assert.is(stored.events.at(-1)?.kind, 'complete');
    assert.equal(stored.runs.map((r) => r.status), ['completed']);
    live.silent.terminate();
  } finally {
    cli?.child.kill('SIGKILL');
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

test('SIGTERM: 1001 everywhere, run completed aborted, PTY killed, tunnel closed, log flushed, exit 0 in bound', async () => {
  await cliShutdown('SIGTERM');
});

test('SIGINT: the same', async () => {
  await cliShutdown('SIGINT');
});

test('close() in-process resolves within the bound with a client that stopped reading', async () => {
  const runtime = createScriptedRuntime();
  const gw = await startReliabilityGateway({ runtime });
  try {
    const sessionId = gw.h.createSession('scripted', gw.workspace);
    const chat = await connect(gw.h.url);
    chat.send({ type: 'chat.send', sessionId, content: 'x' });
    const run = await runtime.nextRun();
    run.writer.send({ kind: 'text', content: 'hello' });
    await chat.waitFor((f) => f.seq === 1);
    const silent = await connect(gw.h.url);
    silent.send({ type: 'chat.subscribe', sessions: [{ sessionId }] });
    await silent.waitFor((f) => f.kind === 'chat_subscribed');
    (silent.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const shell = await connect(gw.h.url, '/shell');
    shell.send({ type: 'init', projectPath: gw.workspace, isPlainShell: true, initialCommand: 'echo PID=$$; exec sleep 600' });
    const pidFrame = await shell.waitFor((f) => typeof f.data === 'string' && /PID=\d+/.test(f.data), 10_000);
    const ptyPid = Number(/PID=(\d+)/.exec(String(pidFrame.data))![1]);
    const plugin = await connect(gw.h.url, '/plugin-ws/echo');
    plugin.send({ kind: 'ping' });
    await plugin.waitFor((f) => f.kind === 'ping');
    const since = Date.now();
    let guard: NodeJS.Timeout | undefined;
    await Promise.race([
      gw.h.stop(),
      new Promise((_, reject) => {
        guard = setTimeout(() => reject(new Error(`close() took longer than ${EXIT_BOUND_MS} ms`)), EXIT_BOUND_MS);
      }),
    ]).finally(() => clearTimeout(guard));
    console.log(`  close(): resolved after ${Date.now() - since} ms`);
    for (const client of [chat, shell, plugin]) assert.is((await client.waitForClose(2000)).code, 1001);
    assert.is(chat.frames.filter((f) => f.kind === 'complete').length, 1);
    assert.ok(!processAlive(ptyPid), 'PTY killed before close() resolved');
    await waitUntil(() => gw.h.gateway.clients.size === 0, 'every socket gone', 2000);
    silent.ws.terminate();
  } finally {
    await gw.close();
    rmSync(gw.h.dir, { recursive: true, force: true });
  }
});

test.run();
