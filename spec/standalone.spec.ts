import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { GATEWAY_V8_FLAGS } from '../gateway/v8Tuning.js';
import { connect, until } from './support/chatHarness.js';
import { startCli } from './support/cliProcess.js';
import { allProcesses, cmdline } from './support/procfs.js';

test('the CLI serves REST and a demo-agent chat end to end, and shuts down on SIGTERM', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-cli-'));
  const cli = await startCli(['--port', '0', '--data-dir', dataDir, '--demo-pace-ms', '0', '--log-level', 'warn', '--workspace-root', dataDir]);
  try {
    assert.ok(statSync(join(dataDir, 'agent-gateway.sqlite')).isFile(), 'SQLite file under the data dir');
    assert.is(readFileSync(join(dataDir, 'token'), 'utf8').trim(), cli.token, 'the token is kept in the data dir');
    const health = await fetch(`${cli.url}/healthz`);
    assert.is(health.status, 200);
    assert.is((await health.json()).status, 'ok');

    const unauthorized = await fetch(`${cli.url}/api/providers/sessions`, { method: 'POST', body: '{}' });
    assert.is(unauthorized.status, 401);
    const created = await fetch(`${cli.url}/api/providers/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cli.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'demo', projectPath: dataDir }),
    });
    assert.is(created.status, 201);
    const { sessionId } = (await created.json()) as { sessionId: string };

    const wsUrl = cli.url.replace('http', 'ws');
    const client = await connect(wsUrl, '/ws', cli.token);
    client.send({ type: 'chat.send', sessionId, content: 'list the files' });
    const request = await client.waitFor((f) => f.kind === 'permission_request', 10_000);
    const running = await fetch(`${cli.url}/api/providers/sessions/running`, {
      headers: { authorization: `Bearer ${cli.token}` },
    });
    const runs = (await running.json()) as Array<{ sessionId: string }>;
    assert.equal(runs.map((r) => r.sessionId), [sessionId]);
    client.send({ type: 'chat.permission-response', requestId: request.requestId, allow: true });
    const complete = await client.waitFor((f) => f.kind === 'complete', 10_000);
    assert.is(complete.success, true);
    const kinds = client.frames.filter((f) => typeof f.seq === 'number').map((f) => f.kind);
    for (const kind of ['thinking', 'stream_delta', 'stream_end', 'tool_use', 'permission_request', 'tool_result', 'text', 'complete']) {
      assert.ok(kinds.includes(kind), `stream has ${kind}`);
    }
    assert.is(kinds.filter((k) => k === 'complete').length, 1);
    const seqs = client.seqs();
    assert.equal(seqs, seqs.map((_, i) => i + 1));
    assert.ok(client.frames.some((f) => f.kind === 'session_upserted'), 'provider id captured and announced');

    cli.child.kill('SIGTERM');
    const closed = await client.waitForClose(10_000);
    assert.is(closed.code, 1001);
    assert.is(await cli.exited, 0);
  } finally {
    cli.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/** The environment of a CLI run by hand: `npm test` sets npm_lifecycle_event, which the hints follow. */
const byHand = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.npm_lifecycle_event;
  return env;
};

test('--help lists the options and bad options exit 2', async () => {
  const { spawnSync } = await import('node:child_process');
  const help = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/app/cli.ts', '--help'], { encoding: 'utf8', env: byHand() });
  assert.is(help.status, 0);
  for (const flag of ['--port', '--host', '--data-dir', '--plugin', '--demo-pace-ms', '--inspect']) {
    assert.ok(help.stdout.includes(flag), `help mentions ${flag}`);
  }
  for (const route of ['/healthz', 'GET    /api/providers/sessions?limit=&before=', '/api/providers/sessions/running', 'DELETE /api/providers/sessions/:id', '/api/providers/sessions/:id/messages', '/api/actors', '/api/config']) {
    assert.ok(help.stdout.includes(route), `help lists ${route}`);
  }
  assert.match(help.stdout, /agent-gateway record --out FILE/);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/app/cli.ts', '--port', 'x'], { encoding: 'utf8', env: byHand() });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /Run "agent-gateway --help"/);
  // What `npm start -- --port x` runs: npm sets npm_lifecycle_event, and the hint follows it.
  const underNpm = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/app/cli.ts', '--port', 'x'], { encoding: 'utf8', env: { ...process.env, npm_lifecycle_event: 'start' } });
  assert.is(underNpm.status, 2);
  assert.match(underNpm.stderr, /Run "npm start -- --help"/);
});

test('a port in use exits 1 with a hint about --port', async () => {
  const { createServer } = await import('node:net');
  const { spawnSync } = await import('node:child_process');
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const { port } = holder.address() as import('node:net').AddressInfo;
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-cli-busy-'));
  try {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/app/cli.ts', '--port', String(port), '--data-dir', dataDir, '--log-level', 'silent'], { encoding: 'utf8', timeout: 30_000, env: byHand() });
    assert.is(run.status, 1);
    assert.match(run.stderr, /could not start: .*EADDRINUSE/);
    assert.match(run.stderr, /The port is taken by another process: choose another with "agent-gateway --port N" \(0: any free port\)/);
  } finally {
    holder.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('npm start runs node with every flag of GATEWAY_V8_FLAGS; without the command-line one the banner says so', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-cli-flags-'));
  const npm = spawn('npm', ['start', '--silent', '--', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--workspace-root', dataDir], {
    env: byHand(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', resolve));
  try {
    // The banner's last line here is the workspace's; a missing flag's line would be printed in the same turn.
    await until(() => / {2}workspace: .*\n/.test(output), 30_000, 'npm start to print its banner').catch((error: Error) => {
      throw new Error(`${error.message}:\n${output}`);
    });
    // npm was started as the leader of its own process group, which its script's processes join.
    const gateway = allProcesses()
      .filter((stat) => stat.pgrp === npm.pid)
      .map((stat) => cmdline(stat.pid))
      .find((argv) => argv.includes('gateway/app/cli.ts'));
    assert.ok(gateway, 'the gateway is a node process under npm');
    const flags = gateway.slice(1, gateway.indexOf('gateway/app/cli.ts'));
    for (const flag of GATEWAY_V8_FLAGS) assert.ok(flags.includes(flag), `node's command line has ${flag}: ${gateway.join(' ')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.not.match(output, /started without/, 'nothing missing');
  } finally {
    try {
      process.kill(-npm.pid!, 'SIGTERM');
    } catch {
      // Already gone.
    }
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }

  const byHandDir = mkdtempSync(join(tmpdir(), 'ag-cli-noflags-'));
  const bare = await startCli(['--port', '0', '--data-dir', byHandDir, '--log-level', 'warn', '--workspace-root', byHandDir], {}, { nodeFlags: [] });
  try {
    // startCli returns once the URL and token are in; the banner's last line may still be on its way.
    const line = /\n {2}node: {3}started without --no-memory-reducer: a burst after idle time costs more CPU \(README, "Node flags"\)\n/;
    await until(() => line.test(bare.stdout()), 10_000, 'the banner line about the missing flag');
    assert.match(bare.stdout(), line);
  } finally {
    bare.child.kill('SIGTERM');
    await bare.exited;
    rmSync(byHandDir, { recursive: true, force: true });
  }
});

test.run();
