/**
 * One terminal must not be able to reach another through an inherited file descriptor.
 * node-pty (Linux) opens each PTY's /dev/ptmx master without FD_CLOEXEC and its forked child
 * closes nothing before exec, so without the launcher (gateway/shell/ptyLaunch.ts) every PTY
 * process holds the masters of every PTY opened before it, and writing into one of them types
 * into that other terminal. Real PTYs over a real /shell socket.
 */
import fs from 'node:fs';
import path from 'node:path';

import * as assert from 'uvu/assert';

import { fdsOf, procStat } from './support/procfs.js';
import { eventually, shellSuite } from './support/shellHarness.js';

const test = shellSuite('shell: no PTY holds another terminal');

/** Terminals opened side by side; each later one would inherit the earlier ones' masters. */
const TERMINALS = 4;

test('several PTYs: each process holds only fds 0, 1, 2, all on its own pts', async ({ harness, dir }) => {
  const client = await harness.connect();
  for (let i = 0; i < TERMINALS; i++) {
    client.init({ projectPath: dir, sessionId: `iso-${i}`, isPlainShell: true, initialCommand: 'exec sleep 600' });
    await eventually(() => harness.route.listActors().filter((actor) => actor.pid !== null).length === i + 1, `PTY ${i}`);
  }
  const pids = harness.route.listActors().map((actor) => actor.pid as number);
  assert.is(new Set(pids).size, TERMINALS);
  // The launcher has exec'd the command once the process is `sleep`.
  for (const pid of pids) await eventually(() => procStat(pid)?.comm === 'sleep', `pid ${pid} running sleep`);
  const terminals = new Set<string>();
  for (const pid of pids) {
    const fds = fdsOf(pid);
    assert.equal([...fds.keys()].sort((a, b) => a - b), [0, 1, 2], `pid ${pid} holds ${JSON.stringify([...fds])}`);
    const targets = new Set(fds.values());
    assert.is(targets.size, 1, `pid ${pid}: 0, 1 and 2 are one terminal`);
    const [pts] = targets;
    assert.match(pts, /^\/dev\/pts\/\d+$/);
    terminals.add(pts);
  }
  assert.is(terminals.size, TERMINALS, 'every PTY has its own terminal');
  await client.close();
});

test('a program in terminal A cannot type a command into terminal B', async ({ harness, dir }) => {
  const marker = path.join(dir, 'injected');
  const victim = await harness.connect();
  victim.init({ projectPath: dir, sessionId: 'victim', isPlainShell: true, initialCommand: 'bash' });
  victim.input('echo B-$((1+1))\r');
  await victim.waitForOutput('B-2');
  const attacker = await harness.connect();
  const attack = [
    'for f in /proc/$$/fd/*; do n=${f##*/};',
    ` if [ "$n" -gt 2 ] && [ "$(readlink "$f")" = /dev/ptmx ]; then printf 'touch ${marker}\\r' >&"$n"; echo "wrote-to-$n"; fi;`,
    'done; echo A-$((2+3)); exec sleep 600',
  ].join('');
  attacker.init({ projectPath: dir, sessionId: 'attacker', isPlainShell: true, initialCommand: attack });
  await attacker.waitForOutput('A-5');
  // Anything injected was queued before this line; once B has answered it, B has run it too.
  victim.input('echo B-$((3+4))\r');
  await victim.waitForOutput('B-7');
  assert.not.match(attacker.output, /wrote-to-\d/, 'terminal A found no other terminal to write into');
  assert.not.ok(fs.existsSync(marker), 'terminal B ran no injected command');
  const victimPid = harness.route.listActors().find((actor) => actor.key.includes('victim'))?.pid as number;
  assert.ok(victimPid > 0);
  // An interactive bash keeps a copy of its terminal at fd 255 and opens pipes of its own (a
  // prompt's command substitution); none of its fds may be the gateway's or another terminal.
  const victimTerminal = fdsOf(victimPid).get(0);
  const gatewayFds = new Set(fdsOf(process.pid).values());
  for (const [fd, target] of fdsOf(victimPid)) {
    if (target === victimTerminal) continue;
    assert.is.not(target, '/dev/ptmx', `victim fd ${fd} is no PTY master`);
    assert.not.ok(gatewayFds.has(target), `victim fd ${fd} (${target}) is not one of the gateway's`);
  }
  await victim.close();
  await attacker.close();
});

test('the command reaches bash intact: arguments, quotes, $ and exit code', async ({ harness, dir }) => {
  const client = await harness.connect();
  client.init({
    projectPath: dir,
    isPlainShell: true,
    initialCommand: `printf '<%s>' "a  b" 'c"d' '$HOME' "$0"; echo; exit 7`,
  });
  await client.waitForOutput('Process exited with code 7');
  assert.match(client.output, /<a {2}b><c"d><\$HOME><bash>/);
  await client.close();
});

test.run();
