import * as assert from 'uvu/assert';

import { eventually, shellSuite } from './support/shellHarness.js';

/** Small enough to reach in a test, well above one restore frame and the shell high-water mark. */
const MAX_SOCKET_BUFFER = 4 * 1024 * 1024;
/** How long the stalled socket keeps asking: ~1 s reaches the cap on a quiet machine. */
const ASK_FOR_MS = 40_000;

const test = shellSuite('shell socket buffer cap', { limits: { maxSocketBufferBytes: MAX_SOCKET_BUFFER } });

test('a socket that stops reading while it keeps sending init (a restore frame each) is cut; the PTY and others are fine', async ({ harness, dir }) => {
  // A screen of wide lines makes each restore frame a few hundred KB; pausing the PTY cannot stop those.
  const init = { projectPath: dir, initialCommand: `seq -f '%g ${'y'.repeat(900)}' 1 600; echo filled; read -r x`, cols: 1000, rows: 50 };
  const asker = await harness.connect({ mirror: false });
  asker.init(init);
  await asker.waitForOutput('filled');
  const pid = harness.route.listActors().find((s) => s.state === 'running')?.pid;
  assert.ok(pid, 'a running PTY');

  asker.ws.pause();
  const closed = new Promise<void>((resolve) => asker.ws.once('close', () => resolve()));
  // Paced, so most restores are answered before the next init (an init that arrives while the
  // socket is still restoring shares that restore). Bounded in time, not in count: on a loaded
  // machine a restore takes longer and more inits share one, so the cap takes more of them.
  const deadline = Date.now() + ASK_FOR_MS;
  while (asker.ws.readyState === asker.ws.OPEN && Date.now() < deadline) {
    asker.init(init);
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    closed,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('the stalled socket was never cut')), 20_000);
    }),
  ]).finally(() => clearTimeout(timer));

  // The PTY lives on (detached) and a reading client gets it back.
  await eventually(() => harness.route.listActors().find((s) => s.pid === pid)?.state === 'detached', 'the PTY to be detached');
  const viewer = await harness.connect({ mirror: false });
  viewer.init(init);
  await viewer.waitForOutput('[Reconnected to existing session]');
  await viewer.waitForOutput('filled');
  viewer.input('done\r');
  await viewer.close();
});

test.run();
