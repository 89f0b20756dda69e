import fs from 'node:fs';
import path from 'node:path';

import * as assert from 'uvu/assert';

import { eventually, processAlive, startShellHarness, type ShellHarness, shellSuite } from './support/shellHarness.js';

const BARE_BASH = "PS1='$ ' exec bash --norc --noprofile";
const DETACH_TIMEOUT = 30 * 60 * 1000;

const test = shellSuite('shell lifecycle');

/** The live session whose PTY has this pid. */
const sessionOf = (harness: ShellHarness, pid: number) => harness.route.listActors().find((s) => s.pid === pid);
const pidIn = (output: string): number => Number(/pid=(\d+)/.exec(output)![1]);
const plain = (dir: string, tag: string) => ({ projectPath: dir, isPlainShell: true, initialCommand: `echo pid=$$; ${BARE_BASH} # ${tag}` });

test('two viewers on one PTY: both see all output, both can type', async ({ harness, dir }) => {
  const a = await harness.connect();
  a.init(plain(dir, 'two-viewers'));
  await a.waitForOutput('$ ');
  const b = await harness.connect();
  b.init(plain(dir, 'two-viewers'));
  await b.waitForOutput('[Reconnected to existing session]');
  a.input('echo from-a-$((1+1))\r');
  await a.waitForOutput('from-a-2');
  await b.waitForOutput('from-a-2');
  b.input('echo from-b-$((2+2))\r');
  await a.waitForOutput('from-b-4');
  await b.waitForOutput('from-b-4');
  const pid = pidIn(a.output);
  assert.is(sessionOf(harness, pid)!.viewers, 2);
  await a.close();
  await b.close();
});

test('a stale socket closing late detaches only itself: the PTY stays attached, no detach timer', async ({ harness, dir }) => {
  const stale = await harness.connect();
  stale.init(plain(dir, 'stale'));
  await stale.waitForOutput('$ ');
  const pid = pidIn(stale.output);
  const replacement = await harness.connect();
  replacement.init(plain(dir, 'stale'));
  await replacement.waitForOutput('[Reconnected to existing session]');
  await stale.close();
  await eventually(() => sessionOf(harness, pid)?.viewers === 1, 'the stale viewer to be gone');
  assert.is(sessionOf(harness, pid)!.state, 'running');
  harness.clock.increment(DETACH_TIMEOUT * 2);
  assert.ok(sessionOf(harness, pid), 'still alive long after the detach timeout');
  replacement.input('echo still-$((3*3))\r');
  await replacement.waitForOutput('still-9');
  await replacement.close();
});

test('detach timeout: the PTY survives until the last viewer has been gone that long, then is killed', async ({ harness, dir }) => {
  const client = await harness.connect();
  client.init(plain(dir, 'timeout'));
  await client.waitForOutput('$ ');
  const pid = pidIn(client.output);
  await client.close();
  await eventually(() => sessionOf(harness, pid)?.state === 'detached', 'detached');
  harness.clock.increment(DETACH_TIMEOUT - 1);
  assert.ok(processAlive(pid));
  assert.ok(sessionOf(harness, pid));
  harness.clock.increment(1);
  assert.is(sessionOf(harness, pid), undefined);
  await eventually(() => !processAlive(pid), 'the process to die');
});

test('forceRestart kills the PTY at the key and starts a fresh one; its other viewers follow', async ({ harness, dir }) => {
  const first = await harness.connect();
  first.init(plain(dir, 'restart'));
  await first.waitForOutput('$ ');
  const oldPid = pidIn(first.output);
  const watcher = await harness.connect();
  watcher.init(plain(dir, 'restart'));
  await watcher.waitForOutput(`pid=${oldPid}`);

  const restarter = await harness.connect();
  restarter.init({ ...plain(dir, 'restart'), forceRestart: true });
  await restarter.waitForOutput(/pid=\d+/);
  assert.not.ok(restarter.output.includes('[Reconnected'), 'a fresh session greets with the welcome line');
  const newPid = pidIn(restarter.output);
  assert.is.not(newPid, oldPid);
  await eventually(() => !processAlive(oldPid), 'the old PTY to die');
  await watcher.waitForOutput(`pid=${newPid}`);
  assert.is(sessionOf(harness, newPid)!.viewers, 3);
  await Promise.all([first.close(), watcher.close(), restarter.close()]);
});

test('login commands always start fresh; a plain reconnect does not', async ({ harness, dir }) => {
  const login = { projectPath: dir, initialCommand: 'echo pid=$$; read -r x # claude setup-token' };
  const a = await harness.connect();
  a.init(login);
  await a.waitForOutput(/pid=\d+/);
  await a.close();
  const b = await harness.connect();
  b.init(login);
  await b.waitForOutput(/pid=\d+/);
  assert.is.not(pidIn(b.output), pidIn(a.output));
  assert.not.ok(b.output.includes('[Reconnected'));
  await eventually(() => !processAlive(pidIn(a.output)), 'the previous login PTY to die');

  const other = { projectPath: dir, initialCommand: 'echo pid=$$; read -r x # not a login' };
  const c = await harness.connect();
  c.init(other);
  await c.waitForOutput(/pid=\d+/);
  await c.close();
  const d = await harness.connect();
  d.init(other);
  await d.waitForOutput('[Reconnected to existing session]');
  await d.waitForOutput(`pid=${pidIn(c.output)}`);
  await Promise.all([b.close(), d.close()]);
});

test('exit: the yellow line; the socket stays open and a new init starts a new PTY', async ({ harness, dir }) => {
  const client = await harness.connect();
  client.init({ projectPath: dir, initialCommand: 'echo bye-$((1)); exit 3' });
  await client.waitForOutput('\x1b[33mProcess exited with code 3\x1b[0m');
  assert.ok(client.output.indexOf('bye-1') < client.output.indexOf('Process exited'), 'after all output');
  client.init({ projectPath: dir, initialCommand: 'echo bye-$((1)); exit 3' });
  await client.waitFor(() => client.output.split('Process exited with code 3').length === 3 || null, 'second run');
  await client.close();
});

test('exit while detached: the next viewer still sees the final screen and how it ended', async ({ harness, dir }) => {
  const go = path.join(dir, 'exit-now');
  const command = `echo pid=$$; while [ ! -e ${go} ]; do sleep 0.02; done; echo gone-$((2)); exit 4`;
  const a = await harness.connect();
  a.init({ projectPath: dir, initialCommand: command });
  await a.waitForOutput(/pid=\d+/);
  const pid = pidIn(a.output);
  await a.close();
  await eventually(() => sessionOf(harness, pid)?.state === 'detached', 'the PTY to be detached');
  fs.writeFileSync(go, '');
  await eventually(() => sessionOf(harness, pid)?.state === 'exited', 'the exit');
  assert.equal(sessionOf(harness, pid)!.exit, { exitCode: 4, signal: null });
  const b = await harness.connect();
  b.init({ projectPath: dir, initialCommand: command });
  await b.waitForOutput('Process exited with code 4');
  assert.ok(b.output.indexOf('[Reconnected') < b.output.indexOf('gone-2'));
  assert.ok(b.output.indexOf('gone-2') < b.output.indexOf('Process exited with code 4'));
  await eventually(() => !sessionOf(harness, pid), 'the entry to be collected');
  await b.close();
});

test('PTY limits per user and in total', async ({ dir }) => {
  const harness = await startShellHarness({ limits: { maxPtysPerUser: 2, maxPtysTotal: 3 } });
  const open = async (user: string, tag: string) => {
    const client = await harness.connect({ user });
    client.init({ projectPath: dir, initialCommand: `read -r x # ${tag}` });
    await client.waitFor(() => client.frames.length > 0 || null, 'an answer');
    return client;
  };
  const refused = (client: Awaited<ReturnType<typeof open>>) =>
    client.frames.some((f) => f.type === 'error' && f.message === 'Too many terminals');
  const u1a = await open('u1', 'a');
  const u1b = await open('u1', 'b');
  const u1c = await open('u1', 'c');
  assert.not.ok(refused(u1a) || refused(u1b));
  assert.ok(refused(u1c), 'third PTY of u1');
  const u2 = await open('u2', 'a');
  assert.not.ok(refused(u2));
  const u3 = await open('u3', 'a');
  assert.ok(refused(u3), 'fourth PTY in total');
  // A PTY that ends frees its slot.
  u1a.input('\r');
  await u1a.waitForOutput('Process exited with code 0');
  await eventually(() => harness.route.listActors().length === 2, 'the exited PTY to be collected');
  const u1d = await open('u1', 'd');
  assert.not.ok(refused(u1d));
  await harness.close();
});

test('close() kills every PTY and closes every socket with 1001', async ({ dir }) => {
  const harness = await startShellHarness();
  const attached = await harness.connect();
  attached.init({ projectPath: dir, initialCommand: 'echo pid=$$; read -r x # one' });
  await attached.waitForOutput(/pid=\d+/);
  const detached = await harness.connect();
  detached.init({ projectPath: dir, initialCommand: 'echo pid=$$; trap "" HUP; read -r x # ignores SIGHUP' });
  await detached.waitForOutput(/pid=\d+/);
  await detached.close();
  const pids = [pidIn(attached.output), pidIn(detached.output)];
  await harness.route.close();
  await attached.waitFor(() => attached.closeCode, 'the socket to close');
  assert.is(attached.closeCode, 1001);
  for (const pid of pids) assert.not.ok(processAlive(pid), `pid ${pid} is gone when close() resolves`);
  await harness.close();
});

test.run();
