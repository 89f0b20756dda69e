import fs from 'node:fs';
import path from 'node:path';

import * as assert from 'uvu/assert';

import type { SessionRecord, SessionStore } from '../persistence/types.js';
import { startShellHarness, shellSuite } from './support/shellHarness.js';

/** An interactive bash that reads no rc files, with a fixed prompt. */
const BARE_BASH = "PS1='$ ' exec bash --norc --noprofile";

const test = shellSuite('shell route');

test('plain shell: welcome line, then an echo round trip through a real PTY', async ({ harness, dir }) => {
  const client = await harness.connect();
  client.init({ projectPath: dir, isPlainShell: true, initialCommand: BARE_BASH });
  await client.waitForOutput(`Starting terminal in: ${dir}`);
  assert.ok(client.output.startsWith('\x1b[36mStarting terminal in: '), 'the welcome line comes first, in cyan');
  client.input('echo round-$((40+2))\r');
  await client.waitForOutput('round-42');
  await client.close();
});

test('invalid project paths and session ids are refused with error frames; the socket stays open', async ({ harness, dir }) => {
  const ptysBefore = harness.route.listActors().length;
  const client = await harness.connect();
  const errors = () => client.frames.filter((f) => f.type === 'error').map((f) => (f.type === 'error' ? f.message : ''));
  client.init({ projectPath: path.join(dir, 'missing'), isPlainShell: true, initialCommand: 'true' });
  await client.waitFor(() => errors().length === 1, 'first error');
  fs.writeFileSync(path.join(dir, 'a-file'), 'x');
  client.init({ projectPath: path.join(dir, 'a-file'), isPlainShell: true, initialCommand: 'true' });
  await client.waitFor(() => errors().length === 2, 'second error');
  client.init({ projectPath: dir, sessionId: 'bad id; rm -rf', provider: 'claude', hasSession: true });
  await client.waitFor(() => errors().length === 3, 'third error');
  assert.equal(errors(), ['Invalid project path', 'Invalid project path', 'Invalid session ID']);
  client.send({ type: 'no-such-type' });
  client.ws.send('not json');
  await client.waitForOutput('Error: Invalid websocket payload');
  assert.is(client.ws.readyState, client.ws.OPEN);
  assert.is(harness.route.listActors().length, ptysBefore, 'no PTY was started');
  await client.close();
});

test('allowed workspace roots: .. and symlinks cannot escape them', async ({ dir }) => {
  const root = path.join(dir, 'root');
  fs.mkdirSync(path.join(root, 'project'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'outside'));
  fs.symlinkSync(path.join(dir, 'outside'), path.join(root, 'escape'));
  const harness = await startShellHarness({ shell: { allowedRoots: [root] } });
  const client = await harness.connect();
  const errorCount = () => client.frames.filter((f) => f.type === 'error').length;
  for (const [i, requested] of [path.join(root, 'project', '..', '..', 'outside'), path.join(root, 'escape'), dir].entries()) {
    client.init({ projectPath: requested, isPlainShell: true, initialCommand: 'true' });
    await client.waitFor(() => errorCount() === i + 1, `refusal of ${requested}`);
  }
  client.init({ projectPath: path.join(root, 'project'), isPlainShell: true, initialCommand: 'pwd; read -r x' });
  await client.waitForOutput(`${path.join(root, 'project')}\r\n`);
  assert.is(errorCount(), 3);
  await harness.close();
});

test('cols and rows are clamped to 1..1000, at spawn and on resize', async ({ harness, dir }) => {
  const client = await harness.connect();
  client.send({ type: 'init', projectPath: dir, isPlainShell: true, initialCommand: 'stty size; read -r a; stty size; read -r b; stty size; read -r c', cols: 5000, rows: 0 });
  await client.waitForOutput('1 1000\r\n');
  client.send({ type: 'resize', cols: -7, rows: 123456 });
  client.input('\r');
  await client.waitForOutput('1000 1\r\n');
  client.send({ type: 'resize', cols: 'wide', rows: null });
  client.input('\r');
  await client.waitForOutput('24 80\r\n');
  await client.close();
});

test('the environment: deny-listed variables are removed, terminal variables set', async ({ dir }) => {
  const harness = await startShellHarness({
    environment: { ...process.env, JWT_SECRET: 's1', GATEWAY_TOKEN: 's2', HOST_SECRET: 's3', AWS_KEY: 's4', KEEP_ME: 'kept' },
    shell: { envDenyList: ['HOST_SECRET', 'AWS_*'] },
  });
  const client = await harness.connect();
  client.init({
    projectPath: dir,
    isPlainShell: true,
    initialCommand: 'echo "[${JWT_SECRET-}|${GATEWAY_TOKEN-}|${HOST_SECRET-}|${AWS_KEY-}|$KEEP_ME|$TERM|$COLORTERM|$FORCE_COLOR]"; read -r x',
  });
  await client.waitForOutput('[||||kept|xterm-256color|truecolor|3]');
  await harness.close();
});

test('agent shells: the provider command table, resuming the provider id from the session store', async ({ dir }) => {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  for (const name of ['claude', 'codex', 'cursor-agent']) {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name}-args:[$*]"\nread -r x\n`, { mode: 0o755 });
  }
  const rows: Record<string, SessionRecord> = {
    'app-1': { sessionId: 'app-1', provider: 'claude', providerSessionId: 'native-1', projectPath: dir },
    'app-2': { sessionId: 'app-2', provider: 'codex', providerSessionId: 'bad"id', projectPath: dir },
  };
  const sessions: SessionStore = { getSession: (id) => rows[id] ?? null, assignProviderSessionId: () => {} };
  const harness = await startShellHarness({ sessions, environment: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });

  const resumed = await harness.connect();
  resumed.init({ projectPath: dir, provider: 'claude', sessionId: 'app-1', hasSession: true });
  await resumed.waitForOutput('claude-args:[--resume native-1]');
  assert.ok(resumed.output.includes(`Resuming Claude session native-1 in: ${dir}`), "the welcome names the id passed to --resume, as the baseline");

  const unsafe = await harness.connect();
  unsafe.init({ projectPath: dir, provider: 'codex', sessionId: 'app-2', hasSession: true });
  await unsafe.waitForOutput('codex-args:[]');
  assert.ok(unsafe.output.includes(`Starting new Codex session in: ${dir}`), 'an unsafe provider id is never resumed');

  const fresh = await harness.connect();
  fresh.init({ projectPath: dir, provider: 'cursor', hasSession: false });
  await fresh.waitForOutput('cursor-agent-args:[]');
  assert.ok(fresh.output.includes('Starting new Cursor session in:'));
  await harness.close();

  const withResolver = await startShellHarness({
    sessions,
    shell: { resolveProviderSessionId: async (id, provider) => `${provider}-of-${id}` },
    environment: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  const viaResolver = await withResolver.connect();
  viaResolver.init({ projectPath: dir, provider: 'claude', sessionId: 'app-1', hasSession: true });
  await viaResolver.waitForOutput('claude-args:[--resume claude-of-app-1]');
  await withResolver.close();
});

test('plain shells with different commands get different PTYs (the whole command is keyed)', async ({ harness, dir }) => {
  const unit = await harness.connect();
  unit.init({ projectPath: dir, initialCommand: 'echo which=unit; read -r x # npm run test:unit' });
  await unit.waitForOutput('which=unit');
  const e2e = await harness.connect();
  e2e.init({ projectPath: dir, initialCommand: 'echo which=unit; read -r x # npm run test:e2e' });
  await e2e.waitForOutput('which=unit');
  assert.not.ok(e2e.output.includes('[Reconnected'), 'a new PTY, not the other one');
  await unit.close();
  await e2e.close();
});

test('a plain shell without a command gets an interactive bash (not `bash -c \'\'`, which exits at once)', async ({ harness, dir }) => {
  const client = await harness.connect();
  client.init({ projectPath: dir, isPlainShell: true });
  await client.waitForOutput('Starting terminal in:');
  // Typed only once bash shows its prompt: on a loaded machine bash may still be starting, and
  // readline can drop what was typed ahead of it.
  await client.waitForOutput(/[#$] $/, 20_000);
  client.input('echo plain-$((5*5))\r');
  await client.waitForOutput('plain-25', 20_000);
  assert.not.ok(client.output.includes('Process exited'));
  await client.close();
});

test('a PTY that cannot be spawned is reported in red and leaves nothing behind', async ({ dir }) => {
  const harness = await startShellHarness({
    spawnPty: () => {
      throw new Error('forkpty failed');
    },
  });
  const client = await harness.connect();
  client.init({ projectPath: dir, isPlainShell: true, initialCommand: 'true' });
  await client.waitForOutput('\x1b[31mError: forkpty failed');
  assert.ok(client.output.indexOf('Starting terminal in:') < client.output.indexOf('Error: forkpty failed'));
  assert.is(harness.route.listActors().length, 0);
  await harness.close();
});

test.run();
