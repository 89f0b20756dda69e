/**
 * `--shell-user`: terminals run as another OS user, so what the gateway's own user can read (its
 * environment through /proc/<gateway pid>/environ, the data dir, the token, the database) is out
 * of a terminal's reach. On the real CLI, with the real unprivileged user `nobody` (the gateway
 * must run as root to switch users; skipped otherwise). Also: a user that does not exist, or a
 * gateway that cannot switch to it, fails at startup with a clear message.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { startCli, type CliChild, type StartCliOptions } from './support/cliProcess.js';
import { ShellTestClient } from './support/shellClient.js';
import { eventually } from './support/shellHarness.js';

const test = suite('shell: --shell-user');

const NOBODY_UID = 65534;
const DATABASE_FILE = 'agent-gateway.sqlite';
/** A secret in the gateway's own environment: a terminal must not be able to read it back. */
const HOST_SECRET = 'host-secret-0f7c2a91';

const isRoot = process.getuid?.() === 0;

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

/** A base dir others may enter, holding a project dir for the terminal and a data dir made too loose on purpose. */
function layout() {
  const base = mkdtempSync(join(tmpdir(), 'ag-shell-user-'));
  chmodSync(base, 0o755);
  const project = join(base, 'project');
  mkdirSync(project, { mode: 0o755 });
  chmodSync(project, 0o755);
  const dataDir = join(base, 'data');
  mkdirSync(dataDir, { mode: 0o755 });
  chmodSync(dataDir, 0o755);
  return { base, project, dataDir };
}

test('a terminal runs as nobody and cannot read the gateway\'s environment, token or database', async () => {
  if (!isRoot) {
    console.log('  (skipped: switching users needs root)');
    return;
  }
  const { base, project, dataDir } = layout();
  // A token file left readable by an older version or by hand: tightened at start.
  writeFileSync(join(dataDir, 'token'), 'handwritten-token-5e1d\n', { mode: 0o644 });
  chmodSync(join(dataDir, 'token'), 0o644);
  let cli: CliChild | null = null;
  let client: ShellTestClient | null = null;
  try {
    cli = await startCli(['--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--shell-user', 'nobody'], { HOST_SECRET });
    assert.is(cli.token, 'handwritten-token-5e1d');
    const started = cli;
    // Printed after the lines startCli waits for.
    await eventually(() => /terminals run as: nobody \(uid 65534\)/.test(started.output()), 'the shell user line');
    assert.is(modeOf(dataDir), 0o700, 'data dir tightened to 0700');
    assert.is(modeOf(join(dataDir, 'token')), 0o600, 'token 0600');
    for (const name of [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`]) {
      assert.is(modeOf(join(dataDir, name)), 0o600, `${name} 0600`);
    }

    client = await ShellTestClient.connect(`${cli.url.replace(/^http/, 'ws')}/shell?token=${encodeURIComponent(cli.token)}`);
    const probe = [
      'echo "uid=$(id -u) groups=$(id -G) home=$HOME user=$USER logname=$LOGNAME ppid=$PPID"',
      'cat /proc/$PPID/environ; echo "environ-rc=$?"',
      `cat ${dataDir}/token; echo "token-rc=$?"`,
      `head -c 16 ${dataDir}/${DATABASE_FILE}; echo "db-rc=$?"`,
      'echo PROBE-$((40+2))',
      // Kept running: node-pty may drop the last output of a program that exits at once.
      'exec sleep 60',
    ].join('; ');
    client.init({ projectPath: project, isPlainShell: true, initialCommand: probe });
    await client.waitForOutput('PROBE-42', 10_000);
    const output = client.output;
    const ids = /uid=(\d+) groups=([\d ]+) home=(\S*) user=(\S*) logname=(\S*) ppid=(\d+)/.exec(output);
    assert.ok(ids, output);
    const [, uid, groups, home, user, logname, ppid] = ids!;
    assert.is(Number(uid), NOBODY_UID);
    assert.is(groups.trim(), String(NOBODY_UID), "nobody's own group only: none of root's supplementary groups");
    assert.is(user, 'nobody');
    assert.is(logname, 'nobody');
    assert.is(home, readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith('nobody:'))!.split(':')[5]);
    assert.is(Number(ppid), cli.child.pid, '$PPID is the gateway process');
    assert.match(output, /environ: Permission denied/);
    assert.match(output, /environ-rc=1/);
    assert.match(output, /token: Permission denied/);
    assert.match(output, /token-rc=1/);
    assert.match(output, /db-rc=1/);
    assert.not.ok(output.includes(HOST_SECRET), 'the gateway environment did not leak');
    assert.not.ok(output.includes(cli.token), 'the token did not leak');
  } finally {
    await client?.close();
    cli?.child.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
  }
});

/** The error of a CLI start that must fail, or null (after killing it) when it started. */
function startFailure(args: string[], options: StartCliOptions = {}): Promise<Error | null> {
  return startCli(args, {}, options).then(
    (cli) => {
      cli.child.kill('SIGKILL');
      return null;
    },
    (failure: Error) => failure,
  );
}

test('a user that does not exist: the CLI exits 1 at startup and says so', async () => {
  const { base, dataDir } = layout();
  try {
    const error = await startFailure(['--port', '0', '--data-dir', dataDir, '--shell-user', 'no-such-user-8c1f']);
    assert.ok(error, 'the CLI must not start');
    assert.match(error!.message, /exited with 1/);
    assert.match(error!.message, /--shell-user "no-such-user-8c1f": no such user/);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('a gateway that is not root cannot switch users: exit 1 at startup, saying why', async () => {
  if (!isRoot) {
    console.log('  (skipped: needs root to start the gateway as another user)');
    return;
  }
  const { base, dataDir } = layout();
  try {
    const error = await startFailure(['--port', '0', '--data-dir', dataDir, '--shell-user', 'root'], {
      prefix: ['setpriv', `--reuid=${NOBODY_UID}`, `--regid=${NOBODY_UID}`, '--clear-groups'],
    });
    assert.ok(error, 'the CLI must not start');
    assert.match(error!.message, /exited with 1/);
    assert.match(error!.message, /--shell-user "root": the gateway cannot run terminals as this user .*must run as root/);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test.run();
