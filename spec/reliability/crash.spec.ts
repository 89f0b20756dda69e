/**
 * Crash recovery and storage failures, on the real CLI process:
 *   - kill -9 mid-run, restart on the same data dir: every event a client saw is on disk, every
 *     flushed event is replayed byte for byte, the interrupted run ends with a synthetic complete
 *     whose seq is above any seq a client saw, PRAGMA integrity_check is ok;
 *   - disk full (a tiny tmpfs) and a read-only database file: the run streams live to the end,
 *     /healthz says degraded, and each failure kind is logged once, not once per event.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { openDatabase } from '../../persistence/database.js';
import { createSqliteSessionStore } from '../../persistence/sessionStore.js';
import { connect, type TestClient } from '../support/chatHarness.js';
import type { CliChild } from '../support/cliProcess.js';
import { createCliSession, DATABASE_FILE, exitWithin, health, readStore, startCliWith, wsUrl } from './support/cliSession.js';

const test = suite('reliability: crash recovery and storage failures');

const FIXED_TOKEN = 'reliability-crash-token';

/** Streams one demo run to its `complete`; returns the client (frames checked contiguous). */
async function streamRun(cli: CliChild, sessionId: string, client?: TestClient): Promise<TestClient> {
  const c = client ?? (await connect(wsUrl(cli), '/ws', cli.token));
  const from = c.frames.length;
  c.send({ type: 'chat.send', sessionId, content: `stream everything /no-tool ${from}` });
  await c.waitFor((f) => f.kind === 'complete', 20_000, from);
  return c;
}

function assertContiguous(client: TestClient, sessionId: string) {
  const seqs = client.seqs(sessionId);
  assert.equal(seqs, seqs.map((_, i) => i + 1), 'seqs 1..n, no gap, no duplicate');
  const completes = client.frames.filter((f) => f.kind === 'complete');
  assert.is(new Set(completes.map((f) => f.runId)).size, completes.length, 'one complete per run');
}

/** The CLI's error lines about failed log writes, grouped by error code. */
function failureLogs(output: string): Map<string, number> {
  const byCode = new Map<string, number>();
  const lines = output.split('Chat event log write failed').slice(1);
  for (const rest of lines) {
    const code = /code: '(\w+)'/.exec(rest.slice(0, 400))?.[1] ?? 'unknown';
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
  }
  return byCode;
}

function mountTmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return true;
  } catch (error) {
    // Root (as on CI) can always mount one, so there a failure is a failure; elsewhere it is skipped.
    if (process.getuid?.() === 0) throw error;
    console.log(`  (skipped: mounting a tmpfs needs root: ${(error as Error).message.split('\n')[0]})`);
    return false;
  }
}

test('kill -9 mid-run: flushed events replayed, synthetic complete, integrity ok, session usable', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-crash-'));
  const args = ['--port', '0', '--data-dir', dataDir, '--demo-pace-ms', '15', '--log-level', 'warn'];
  let first: CliChild | null = null;
  let second: CliChild | null = null;
  try {
    first = await startCliWith(args);
    const sessionId = await createCliSession(first, dataDir);
    const client = await connect(wsUrl(first), '/ws', first.token);
    client.send({ type: 'chat.send', sessionId, content: 'tell me everything about the gateway /no-tool' });
    await client.waitFor((f) => typeof f.seq === 'number' && f.seq >= 15, 20_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const received = client.seqs(sessionId);

    const crashed = readStore(dataDir, sessionId);
    assert.is(crashed.integrity, 'ok', 'the file survived kill -9');
    const flushed = crashed.events.map((e) => e.seq);
    assert.ok(flushed.length >= 1, 'events were flushed before the kill');
    // Durable before visible: a frame leaves only once its event is written, so the client saw a
    // prefix of what is on disk, and no seq it holds can be handed out again after the restart.
    assert.equal(received, flushed.slice(0, received.length), 'what the client saw is a prefix of what is on disk');
    console.log(`  kill -9 after ${received.length} events seen: ${flushed.length} on disk, ${flushed.length - received.length} written but not yet seen`);
    assert.equal(crashed.runs.map((r) => r.status), ['running']);
    // What the client saw is byte-identical to the log.
    for (const event of crashed.events.slice(0, received.length)) {
      const seen = client.frames.find((f) => f.seq === event.seq);
      assert.equal(seen, JSON.parse(event.json), `seq ${event.seq} as sent`);
    }

    second = await startCliWith(args);
    const reader = await connect(wsUrl(second), '/ws', second.token);
    reader.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 1 }] });
    const ack = await reader.waitFor((f) => f.kind === 'chat_subscribed');
    const latest = flushed.length + 1;
    assert.is(ack.isProcessing, false);
    assert.is(ack.lastSeq, latest, 'the synthetic complete follows the flushed events');
    assert.is(ack.gap, false);
    const complete = await reader.waitFor((f) => f.kind === 'complete', 10_000);
    assert.is(complete.seq, latest);
    assert.is(complete.exitCode, 1);
    assert.is(complete.success, false);
    assert.is(complete.runId, crashed.events[0].runId, 'the interrupted run is the one completed');
    assert.equal(reader.seqs(sessionId), Array.from({ length: latest - 1 }, (_, i) => i + 2), 'every flushed event replayed, then the complete');
    for (const event of crashed.events.slice(1)) {
      assert.equal(reader.frames.find((f) => f.seq === event.seq), JSON.parse(event.json), `replayed seq ${event.seq} unchanged`);
    }
    // The session is not stuck: a new run starts and continues the seq.
    const next = await streamRun(second, sessionId, reader);
    const firstOfNext = next.frames.find((f) => typeof f.seq === 'number' && f.seq > latest);
    assert.is(firstOfNext?.seq, latest + 1);
    second.child.kill('SIGTERM');
    assert.is((await exitWithin(second, Date.now(), 10_000)).code, 0);
    const after = readStore(dataDir, sessionId);
    assert.is(after.integrity, 'ok');
    assert.equal(after.runs.map((r) => r.status), ['completed', 'completed']);
  } finally {
    first?.child.kill('SIGKILL');
    second?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('disk full (tiny tmpfs): live streaming goes on, /healthz degraded, one log line per failure kind, then recovery', async () => {
  const base = mkdtempSync(join(tmpdir(), 'ag-full-'));
  const mount = join(base, 'mnt');
  if (!mountTmpfs(mount, '8m')) {
    rmSync(base, { recursive: true, force: true });
    return;
  }
  const dataDir = join(mount, 'data');
  let cli: CliChild | null = null;
  try {
    cli = await startCliWith(['--port', '0', '--data-dir', dataDir, '--demo-pace-ms', '0']);
    const sessionId = await createCliSession(cli, base);
    // Fill the disk.
    const filler = join(mount, 'filler');
    const fd = openSync(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    } finally {
      closeSync(fd);
    }
    let client: TestClient | undefined;
    for (let i = 0; i < 4; i++) client = await streamRun(cli, sessionId, client);
    assertContiguous(client!, sessionId);
    const events = client!.seqs(sessionId).length;
    const degraded = await health(cli);
    assert.is(degraded.status, 'degraded');
    assert.is(degraded.eventLog?.degraded, true);
    const logged = failureLogs(cli.output());
    console.log(`  disk full: ${events} events streamed live, failures logged ${JSON.stringify([...logged])}, health ${JSON.stringify(degraded.eventLog)}`);
    assert.ok(logged.size >= 1, 'the failure is logged');
    for (const [code, times] of logged) assert.is(times, 1, `${code} logged once, not per event`);
    // Space again: the log catches up by itself.
    rmSync(filler);
    const deadline = Date.now() + 10_000;
    while ((await health(cli)).status !== 'ok') {
      if (Date.now() > deadline) throw new Error('the log did not recover once space was back');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    cli.child.kill('SIGTERM');
    assert.is((await exitWithin(cli, Date.now(), 10_000)).code, 0);
    const stored = readStore(dataDir, sessionId);
    assert.is(stored.integrity, 'ok');
    assert.equal(stored.events.map((e) => e.seq), client!.seqs(sessionId), 'nothing lost: the events kept in memory were written');
  } finally {
    cli?.child.kill('SIGKILL');
    if (cli) await cli.exited;
    try {
      execFileSync('umount', [mount], { stdio: 'pipe' });
    } catch {
      // Not mounted.
    }
    rmSync(base, { recursive: true, force: true });
  }
});

test('read-only database file: live streaming goes on, /healthz degraded, one log line per failure kind', async () => {
  const base = mkdtempSync(join(tmpdir(), 'ag-ro-'));
  const dataDir = join(base, 'data');
  const args = ['--port', '0', '--data-dir', dataDir, '--demo-pace-ms', '0'];
  const env = { GATEWAY_TOKEN: FIXED_TOKEN };
  let cli: CliChild | null = null;
  let immutable: string | null = null;
  try {
    // The database and the session exist (as a first run would leave them), closed cleanly.
    mkdirSync(dataDir, { recursive: true });
    const setup = openDatabase(join(dataDir, DATABASE_FILE));
    const { sessionId } = createSqliteSessionStore(setup).createSession({ provider: 'demo', projectPath: base });
    setup.close();
    // The file becomes read-only; the directory stays writable (SQLite keeps its -wal/-shm there).
    chmodSync(join(dataDir, DATABASE_FILE), 0o444);
    chmodSync(base, 0o755);
    chmodSync(dataDir, 0o777);
    // Root ignores mode bits. The immutable attribute binds root too (SQLite then opens the file
    // read-only, as for a 0444 file); where the file system has no such attribute, the gateway
    // runs as an unprivileged user instead (the checkout must then be readable by that user).
    let prefix: string[] = [];
    if (process.getuid?.() === 0) {
      try {
        execFileSync('chattr', ['+i', join(dataDir, DATABASE_FILE)], { stdio: 'pipe' });
        immutable = join(dataDir, DATABASE_FILE);
      } catch {
        prefix = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
      }
    }
    cli = await startCliWith(args, { env, prefix });
    const client = await streamRun(cli, sessionId);
    await streamRun(cli, sessionId, client);
    assertContiguous(client, sessionId);
    const degraded = await health(cli);
    assert.is(degraded.status, 'degraded');
    assert.match(String(degraded.eventLog?.lastError), /readonly/i);
    const logged = failureLogs(cli.output());
    console.log(`  read-only: ${client.seqs(sessionId).length} events streamed live, failures logged ${JSON.stringify([...logged])}`);
    assert.ok(logged.size >= 1, 'the failure is logged');
    for (const [code, times] of logged) assert.is(times, 1, `${code} logged once, not per event`);
    cli.child.kill('SIGTERM');
    assert.is((await exitWithin(cli, Date.now(), 10_000)).code, 0);
  } finally {
    cli?.child.kill('SIGKILL');
    if (immutable) execFileSync('chattr', ['-i', immutable], { stdio: 'pipe' });
    rmSync(base, { recursive: true, force: true });
  }
});

test.run();
