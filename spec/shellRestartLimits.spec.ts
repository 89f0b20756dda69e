/**
 * `forceRestart` cannot take a user past `maxPtysPerUser` or the gateway past `maxPtysTotal`: a
 * killed PTY counts until its process has exited (SIGHUP ignored → SIGKILL after
 * `shellKillGraceMs`), not only until its session ended. Real PTYs; live processes are counted
 * in /proc while 5 sockets send `init` with `forceRestart: true` as fast as they are answered.
 */
import fs from 'node:fs';

import * as assert from 'uvu/assert';

import { eventually, shellSuite } from './support/shellHarness.js';

const PER_USER = 3;
const TOTAL = 4;
const INITS_PER_SOCKET = 30;
/** Unique per run, so only this run's processes are counted. */
const RUN = `${process.pid % 1000}${Date.now() % 1000}`;
const marker = (user: string) => `603.${user === 'u1' ? 1 : 2}${RUN}`;

const test = shellSuite('shell restart limits', {
  limits: { maxPtysPerUser: PER_USER, maxPtysTotal: TOTAL, shellKillGraceMs: 300, rateLimitPerSecond: 0 },
});

/** Live `sleep <marker>` processes per marker. */
function liveSleeps(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (fs.readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) continue;
    } catch {
      continue;
    }
    if (argv[0]?.endsWith('sleep') && argv[1]?.startsWith('603.') && argv[1].endsWith(RUN)) {
      counts.set(argv[1], (counts.get(argv[1]) ?? 0) + 1);
    }
  }
  return counts;
}

test('5 sockets × 30 forceRestart inits of a HUP-ignoring program never exceed the PTY limits; all exit afterwards', async ({ harness, dir }) => {
  const users = ['u1', 'u1', 'u1', 'u2', 'u2'];
  const clients = await Promise.all(users.map((user) => harness.connect({ mirror: false, user })));
  let maxPerUser = 0;
  let maxTotal = 0;
  const sampler = setInterval(() => {
    const counts = liveSleeps();
    const u1 = counts.get(marker('u1')) ?? 0;
    const u2 = counts.get(marker('u2')) ?? 0;
    maxPerUser = Math.max(maxPerUser, u1, u2);
    maxTotal = Math.max(maxTotal, u1 + u2);
  }, 15);

  let started = 0;
  let refused = 0;
  let lastFrameAt = Date.now();
  for (const client of clients) {
    client.ws.on('message', (raw) => {
      lastFrameAt = Date.now();
      const frame = JSON.parse(raw.toString()) as { type: string; data?: string };
      if (frame.type === 'error') refused++;
      if (frame.type === 'output' && frame.data?.includes('Starting terminal in:')) started++;
    });
  }
  for (let n = 0; n < INITS_PER_SOCKET; n++) {
    clients.forEach((client, i) => {
      client.init({ projectPath: dir, initialCommand: `trap "" HUP; sleep ${marker(users[i])}`, forceRestart: true });
    });
  }
  try {
    // Every init is answered (a fresh PTY, a PTY another socket started meanwhile, or an error):
    // the attack is over once the sockets have been quiet for a while.
    await eventually(() => Date.now() - lastFrameAt > 1500, 'the restart flood to be answered', 90_000);
  } finally {
    clearInterval(sampler);
  }
  console.log(`  restart flood: ${started} PTYs started, ${refused} refused; at most ${maxPerUser} live per user (limit ${PER_USER}), ${maxTotal} in total (limit ${TOTAL})`);
  assert.ok(maxTotal > 0, 'the sampler saw the processes');
  assert.ok(maxPerUser <= PER_USER, `per user: ${maxPerUser} > ${PER_USER}`);
  assert.ok(maxTotal <= TOTAL, `total: ${maxTotal} > ${TOTAL}`);

  await Promise.all(clients.map((client) => client.close()));
  for (const entry of harness.route.listActors()) if (entry.pid) process.kill(-entry.pid, 'SIGKILL');
  await eventually(() => liveSleeps().size === 0, 'every process to have exited', 10_000);
});

test.run();
