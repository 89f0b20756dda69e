/**
 * The gateway-wide send budget (`maxTotalSocketBufferBytes`): many /shell sockets that stopped
 * reading while they keep asking for screen restores cannot together queue more than the bound,
 * even though each stays under the per-socket cap. A socket whose frame would take the total over
 * is cut (terminated, as at the per-socket cap); the PTY and reading clients are unaffected.
 * A real gateway (createWebSocketServer) on 127.0.0.1:0, real PTYs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import * as assert from 'uvu/assert';
import { suite } from 'uvu';

import { createScriptedRuntime, startHarness, TOKEN, type Harness } from './support/chatHarness.js';
import { ShellTestClient } from './support/shellClient.js';

const MiB = 1024 * 1024;
const TOTAL_CAP = 8 * MiB;
/** As high as allowed (it may not exceed the total): no single socket gets past it, so every cut is the total bound's. */
const PER_SOCKET_CAP = TOTAL_CAP;
const ASKERS = 10;
/** How long the askers keep asking (bounded in time: on a loaded machine restores are slower and shared). */
const ASK_FOR_MS = 40_000;
/** An init that arrives before the previous restore was answered cancels it: each round waits for the (shared) snapshot. */
const ROUND_MS = 150;

const test = suite<{ h: Harness; dir: string }>('shell send budget', { h: null!, dir: '' });

test.before(async (context) => {
  context.dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ag-budget-')));
  context.h = await startHarness(createScriptedRuntime(), {
    limits: { maxSocketBufferBytes: PER_SOCKET_CAP, maxTotalSocketBufferBytes: TOTAL_CAP, rateLimitPerSecond: 0 },
  });
});
test.after(async ({ h, dir }) => {
  await h.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

const queuedOnServer = (h: Harness) => {
  let total = 0;
  for (const ws of h.gateway.clients) total += ws.bufferedAmount;
  return total;
};

test('sockets that stop reading and keep asking for restores are cut at the total bound; a reader still gets its restore', async ({ h, dir }) => {
  const shellUrl = `${h.url}/shell?token=${TOKEN}`;
  // ~600 lines of 900 characters on a 1000-column terminal: each restore frame is a few hundred KB.
  const init = { projectPath: dir, initialCommand: `seq -f '%g ${'y'.repeat(900)}' 1 600; echo filled; read -r x`, cols: 1000, rows: 50 };
  const owner = await ShellTestClient.connect(shellUrl, { mirror: false });
  owner.init(init);
  await owner.waitForOutput('filled', 15_000);

  const askers = await Promise.all(Array.from({ length: ASKERS }, () => ShellTestClient.connect(shellUrl, { mirror: false })));
  for (const asker of askers) asker.ws.pause();
  let peak = 0;
  const sockets = h.gateway.clients.size;
  const sampler = setInterval(() => {
    peak = Math.max(peak, queuedOnServer(h));
  }, 5);
  try {
    // Until the server has cut one (a cut socket leaves its client set), at most ASK_FOR_MS.
    const deadline = Date.now() + ASK_FOR_MS;
    while (h.gateway.clients.size === sockets && Date.now() < deadline) {
      for (const asker of askers) if (asker.ws.readyState === asker.ws.OPEN) asker.init(init);
      await new Promise((resolve) => setTimeout(resolve, ROUND_MS));
      peak = Math.max(peak, queuedOnServer(h));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    clearInterval(sampler);
  }
  // Cut: the server terminated them (no close frame reaches a paused client anyway). A client sees
  // it once it has read what was queued before the cut.
  const cutOnServer = sockets - h.gateway.clients.size;
  for (const asker of askers) asker.ws.resume();
  const seenBy = Date.now() + 10_000;
  const closedAskers = () => askers.filter((asker) => asker.ws.readyState !== asker.ws.OPEN).length;
  while (closedAskers() < cutOnServer && Date.now() < seenBy) await new Promise((resolve) => setTimeout(resolve, 50));
  const cut = closedAskers();
  console.log(`  restore flood: ${ASKERS} stalled sockets, peak queued on the server ${(peak / MiB).toFixed(1)} MiB (bound ${TOTAL_CAP / MiB} MiB), ${cut} cut`);
  assert.ok(peak <= TOTAL_CAP, `queued ${peak} bytes > ${TOTAL_CAP}`);
  assert.ok(cutOnServer >= 1, 'sockets over the total bound are cut');
  assert.is(cut, cutOnServer, 'the cut clients see their socket closed');

  // The PTY lives on and a reading client gets its whole restore.
  const reader = await ShellTestClient.connect(shellUrl, { mirror: false });
  reader.init(init);
  await reader.waitForOutput('[Reconnected to existing session]');
  await reader.waitForOutput('filled', 15_000);
  owner.input('done\r');
  await Promise.all([reader.close(), owner.close(), ...askers.map((asker) => asker.close())]);
});

test.run();
