/**
 * ACP agents through the real CLI (`npm start -- --agent …`, as a user runs it): every way to
 * configure agents, GET /api/config listing them, a chat with an approval over /ws, agent processes
 * stopped on SIGTERM, resume after a restart; and the real `@zed-industries/claude-code-acp` started
 * with no credentials (HOME in a temp dir, ANTHROPIC_* removed, any HTTP(S) through a dead proxy):
 * it must end the run with a clear error and one complete, not hang.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { describeCommand } from '../gateway/app/agents/agentSpecs.js';
import { TEST_AGENT, kinds, streamed, turn } from './support/acpHarness.js';
import { connect, until } from './support/chatHarness.js';
import { startCli, type CliChild } from './support/cliProcess.js';
import { processExists } from './support/procfs.js';

const require = createRequire(import.meta.url);

async function rest(cli: CliChild, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${cli.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${cli.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

const agentCommand = (flags: string[] = []) => describeCommand({ command: process.execPath, args: [TEST_AGENT, ...flags] });

test('agents from --agent, GATEWAY_AGENTS and --agents-file; a chat with an approval; SIGTERM stops the agents; a restart resumes', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-acp-cli-'));
  const project = join(dataDir, 'project');
  mkdirSync(project);
  const agentsFile = join(dataDir, 'agents.json');
  writeFileSync(agentsFile, JSON.stringify({ agents: { filed: { command: process.execPath, args: [TEST_AGENT, '--no-load'] } } }));
  const args = ['--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--workspace-root', dataDir, '--agent', `acp=${agentCommand()}`, '--agents-file', agentsFile];
  const env = { GATEWAY_AGENTS: `fromenv=${agentCommand()};acp=/not/used/because/the/flag/wins` };
  let cli = await startCli(args, env);
  try {
    await until(() => /agent: {2}acp = /.test(cli.stdout()), 5000, 'the banner to list the agent');
    const config = await rest(cli, '/api/config');
    assert.equal(config.status, 200);
    assert.equal(config.json.providers, ['demo', 'filed', 'fromenv', 'acp']);
    const listed = config.json.agents as Array<{ name: string; command: string }>;
    assert.equal(listed.map((a) => a.name), ['filed', 'fromenv', 'acp']);
    assert.ok(listed.find((a) => a.name === 'acp')!.command.endsWith('agent.mjs'));

    const created = await rest(cli, '/api/providers/sessions', { provider: 'acp', projectPath: project });
    assert.equal(created.status, 201);
    const sessionId = String(created.json.sessionId);
    const client = await connect(cli.url.replace('http', 'ws'), '/ws', cli.token);
    const streamedRun = await turn(client, sessionId, 'stream');
    assert.equal(streamed(streamedRun), 'One two three four five.');
    assert.equal(kinds(streamedRun)[0], 'text');
    assert.equal(kinds(streamedRun).at(-1), 'complete');

    const from = client.frames.length;
    client.send({ type: 'chat.send', sessionId, content: 'permission' });
    const request = await client.waitFor((f) => f.kind === 'permission_request', 10_000, from);
    client.send({ type: 'chat.permission-response', requestId: request.requestId, allow: true });
    await client.waitFor((f) => f.kind === 'complete', 10_000, from);
    assert.match(streamed(client.frames.slice(from)), /outcome=opt-allow/);

    // The other two sources' agents run too.
    for (const provider of ['fromenv', 'filed']) {
      const other = String((await rest(cli, '/api/providers/sessions', { provider, projectPath: project })).json.sessionId);
      assert.match(streamed(await turn(client, other, 'whoami')), /^session=sess_/);
    }

    const before = streamed(await turn(client, sessionId, 'whoami'));
    const pid = Number(/pid=(\d+)/.exec(before)?.[1]);
    const acpSession = /session=(\S+)/.exec(before)?.[1];
    assert.ok(processExists(pid));
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0);
    assert.not.ok(processExists(pid), 'the agent process is gone with the gateway');
    await client.close();

    cli = await startCli(args, env);
    const again = await connect(cli.url.replace('http', 'ws'), '/ws', cli.token);
    const after = streamed(await turn(again, sessionId, 'whoami'));
    assert.equal(/session=(\S+)/.exec(after)?.[1], acpSession);
    assert.match(after, /loaded=true/);
    await again.close();
  } finally {
    cli.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a bad --agent or --agents-file stops the CLI with exit 2 or 1 and a message naming it', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-acp-cli-bad-'));
  try {
    const badName = await startCli(['--port', '0', '--data-dir', dataDir, '--agent', 'demo=whatever']).then(
      () => null,
      (error: Error) => error.message,
    );
    assert.match(String(badName), /exited with 2[\s\S]*--agent: agent name "demo" is reserved/);
    const missingFile = await startCli(['--port', '0', '--data-dir', dataDir, '--agents-file', join(dataDir, 'nope.json')]).then(
      () => null,
      (error: Error) => error.message,
    );
    assert.match(String(missingFile), /exited with 1[\s\S]*--agents-file .*cannot be read/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('@zed-industries/claude-code-acp without credentials: a clear error and one complete, no hang', async () => {
  const home = mkdtempSync(join(tmpdir(), 'ag-claude-home-'));
  const project = join(home, 'project');
  mkdirSync(project);
  const entry = join(dirname(require.resolve('@zed-industries/claude-code-acp/package.json')), 'dist', 'index.js');
  // No credential can be found or used: nothing of ours is inherited, nothing can leave the machine.
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    HTTPS_PROXY: 'http://127.0.0.1:9',
    HTTP_PROXY: 'http://127.0.0.1:9',
    https_proxy: 'http://127.0.0.1:9',
    http_proxy: 'http://127.0.0.1:9',
    NO_PROXY: '',
  };
  for (const name of Object.keys(process.env)) if (/^(ANTHROPIC_|CLAUDE_|AWS_|GOOGLE_|VERTEX)/.test(name)) env[name] = undefined;
  const cli = await startCli(['--port', '0', '--data-dir', join(home, 'data'), '--log-level', 'warn', '--workspace-root', home, '--agent', `claude=${describeCommand({ command: process.execPath, args: [entry] })}`], env);
  try {
    const sessionId = String((await rest(cli, '/api/providers/sessions', { provider: 'claude', projectPath: project })).json.sessionId);
    const client = await connect(cli.url.replace('http', 'ws'), '/ws', cli.token);
    const frames = await turn(client, sessionId, 'Say hello.', 120_000);
    const order = kinds(frames);
    assert.equal(order[0], 'text');
    assert.equal(order.at(-1), 'complete');
    assert.equal(order.filter((kind) => kind === 'complete').length, 1);
    const error = frames.find((f) => f.kind === 'error');
    assert.ok(error, `an error frame; got ${order.join(',')}`);
    assert.ok(String(error!.content).length > 10);
    assert.equal(frames.at(-1)!.success, false);
    // What it said, for the report (and for whoever reads a failing CI log).
    console.log(`claude-code-acp said: ${String(error!.content).slice(0, 400)}`);
    await client.close();
  } finally {
    cli.child.kill('SIGTERM');
    await cli.exited;
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
