/**
 * PTY processes must not outlive the gateway. On the real CLI process (node running
 * gateway/app/cli.ts, so the pid we kill is the gateway itself): terminals running `sleep 600`, an
 * interactive bash with a background job that ignores SIGHUP, and `trap "" HUP; sleep 603`;
 * after a `kill -9` of the gateway every process of those terminals is gone within
 * ORPHAN_DEADLINE_MS — also when the PTY reaper (gateway/shell/ptyReaper.ts) was killed first,
 * and after a graceful SIGTERM nothing is left either, the reaper included.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { PTY_REAPER_NAME } from '../../gateway/shell/ptyReaper.js';
import type { CliChild } from '../support/cliProcess.js';
import { allProcesses, cmdline, isRunning, sessionMembers } from '../support/procfs.js';
import { eventually } from '../support/shellHarness.js';
import { ShellTestClient } from '../support/shellClient.js';
import { exitWithin, startCliWith, wsUrl } from './support/cliSession.js';

const test = suite('reliability: PTY processes die with the gateway');

/** The brief: every PTY process gone within a few seconds of the gateway's death. */
const ORPHAN_DEADLINE_MS = 5000;

interface Terminal {
  name: string;
  init: Record<string, unknown>;
  /** Processes the terminal's session holds once it is set up (checked by name). */
  expect: string[];
  /** Typed after init, if any. */
  typed?: string;
}

const TERMINALS: Terminal[] = [
  { name: 'sleep', init: { initialCommand: 'sleep 600' }, expect: ['sleep'] },
  {
    name: 'interactive',
    init: { initialCommand: 'bash' },
    // A job of an interactive shell gets a process group of its own; it ignores the hang-up too.
    typed: '(trap "" HUP; exec sleep 604) &\r',
    expect: ['bash', 'sleep'],
  },
  // bash stays as the parent (it has more to run after sleep): two processes that ignore the hang-up.
  { name: 'nohup', init: { initialCommand: 'trap "" HUP; sleep 603; echo after' }, expect: ['bash', 'sleep'] },
];

interface Started {
  cli: CliChild;
  client: ShellTestClient;
  /** Every process of every terminal. */
  pids: number[];
  dataDir: string;
}

async function ptyPids(cli: CliChild): Promise<number[]> {
  const response = await fetch(`${cli.url}/api/actors`, { headers: { authorization: `Bearer ${cli.token}` } });
  const { shell } = (await response.json()) as { shell: Array<{ pid: number | null }> };
  return shell.map((actor) => actor.pid).filter((pid): pid is number => typeof pid === 'number');
}

/** The gateway's watchdog: its child running the reaper script. */
function reaperOf(gatewayPid: number): number | null {
  const found = allProcesses().find((stat) => stat.ppid === gatewayPid && cmdline(stat.pid).includes(PTY_REAPER_NAME));
  return found?.pid ?? null;
}

async function startWithTerminals(): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-orphans-'));
  const cli = await startCliWith(['--port', '0', '--data-dir', dataDir, '--log-level', 'warn']);
  const client = await ShellTestClient.connect(`${wsUrl(cli)}/shell?token=${encodeURIComponent(cli.token)}`);
  const project = realpathSync(dataDir);
  const sessions: number[] = [];
  for (const terminal of TERMINALS) {
    client.init({ projectPath: project, sessionId: terminal.name, isPlainShell: true, ...terminal.init });
    const sid = await eventually(async () => (await ptyPids(cli)).find((pid) => !sessions.includes(pid)), `terminal ${terminal.name}`);
    sessions.push(sid);
    if (terminal.typed) {
      await eventually(() => sessionMembers(sid).some((stat) => stat.comm === 'bash'), `${terminal.name}: bash`);
      client.input(terminal.typed);
    }
    const expected = JSON.stringify([...terminal.expect].sort());
    await eventually(
      () => JSON.stringify(sessionMembers(sid).map((stat) => stat.comm).sort()) === expected,
      `${terminal.name}: ${terminal.expect.join(', ')} running`,
    );
  }
  const pids = sessions.flatMap((sid) => sessionMembers(sid).map((stat) => stat.pid));
  return { cli, client, pids, dataDir };
}

/** How long until none of `pids` runs; fails past the deadline, naming the survivors. */
async function goneWithin(pids: number[], since: number): Promise<number> {
  try {
    await eventually(() => pids.every((pid) => !isRunning(pid)), 'the PTY processes to die', ORPHAN_DEADLINE_MS);
  } catch {
    const survivors = pids.filter(isRunning).map((pid) => `${pid} ${cmdline(pid).join(' ')}`);
    throw new Error(`still running ${ORPHAN_DEADLINE_MS} ms later: ${survivors.join('; ')}`);
  }
  return Date.now() - since;
}

/**
 * kill -9 of the gateway, then the time until its parent (this process) has reaped it: only then
 * are its fds closed (a thread in uninterruptible sleep can hold them), so the deadline starts there.
 */
async function killGateway(cli: CliChild): Promise<{ killedAt: number; deadAt: number }> {
  const killedAt = Date.now();
  cli.child.kill('SIGKILL');
  await exitWithin(cli, killedAt, 10_000);
  return { killedAt, deadAt: Date.now() };
}

function cleanUp(started: Started | null) {
  if (!started) return;
  started.cli.child.kill('SIGKILL');
  // A failing run must not leave sleeps behind.
  for (const pid of started.pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  void started.client.close();
  rmSync(started.dataDir, { recursive: true, force: true });
}

test('kill -9 of the gateway: every PTY process is gone within seconds, the reaper too', async () => {
  let started: Started | null = null;
  try {
    started = await startWithTerminals();
    const { cli, pids } = started;
    const reaper = await eventually(() => reaperOf(cli.child.pid!), 'the PTY reaper');
    assert.is(pids.length, 5, 'five processes in three terminals');
    const { killedAt, deadAt } = await killGateway(cli);
    const ms = await goneWithin(pids, deadAt);
    console.log(`  kill -9: gateway gone after ${deadAt - killedAt} ms, its ${pids.length} PTY processes ${ms} ms later`);
    await eventually(() => !isRunning(reaper), 'the reaper to exit', ORPHAN_DEADLINE_MS);
  } finally {
    cleanUp(started);
  }
});

test('the reaper killed first is started again, and still does its job', async () => {
  let started: Started | null = null;
  try {
    started = await startWithTerminals();
    const { cli, pids } = started;
    const first = await eventually(() => reaperOf(cli.child.pid!), 'the PTY reaper');
    process.kill(first, 'SIGKILL');
    const second = await eventually(() => {
      const pid = reaperOf(cli.child.pid!);
      return pid !== null && pid !== first ? pid : null;
    }, 'a new PTY reaper');
    assert.ok(isRunning(second));
    const { killedAt, deadAt } = await killGateway(cli);
    const ms = await goneWithin(pids, deadAt);
    console.log(`  reaper restarted, then kill -9: gateway gone after ${deadAt - killedAt} ms, its ${pids.length} PTY processes ${ms} ms later`);
  } finally {
    cleanUp(started);
  }
});

test('SIGTERM: a clean exit leaves no PTY process and no reaper', async () => {
  let started: Started | null = null;
  try {
    started = await startWithTerminals();
    const { cli, pids } = started;
    const reaper = await eventually(() => reaperOf(cli.child.pid!), 'the PTY reaper');
    const at = Date.now();
    cli.child.kill('SIGTERM');
    assert.is((await exitWithin(cli, at, 15_000)).code, 0);
    const ms = await goneWithin(pids, at);
    console.log(`  SIGTERM: exit 0, ${pids.length} PTY processes gone after ${ms} ms`);
    await eventually(() => !isRunning(reaper), 'the reaper to exit', ORPHAN_DEADLINE_MS);
  } finally {
    cleanUp(started);
  }
});

test.run();
