import * as assert from 'uvu/assert';

import { eventually, shellSuite } from './support/shellHarness.js';
import { collectGarbage } from './support/collectGarbage.js';

/**
 * Benchmark-style checks with generous bounds: the server (this process) must not buffer a
 * runaway producer. Memory is sampled after a forced GC, so garbage from the output stream does
 * not count; what remains is what the gateway holds. Without flow control a stalled viewer makes
 * the same run retain ~35 MiB more per second (measured: +154 MiB after 5 s).
 */
/** Peak RSS growth allowed during the window. */
const RSS_GROWTH_BOUND = 96 * 1024 * 1024;
/** Heap + array buffers still referenced at the end of the window. */
const RETAINED_GROWTH_BOUND = 24 * 1024 * 1024;
/** How long the producer runs against a stalled reader or no reader at all. */
const OBSERVATION_MS = 2500;
/** `yes` with 990-character lines. */
const YES_WIDE = `yes "$(printf '%0990d' 0)"`;

const test = shellSuite('shell flow control');

interface Growth {
  rssPeak: number;
  retained: number;
}

/** Growth over the window, sampled every 100 ms after a GC. */
async function memoryGrowthOver(ms: number): Promise<Growth> {
  const retainedNow = () => {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };
  collectGarbage();
  const startRss = process.memoryUsage().rss;
  const startRetained = retainedNow();
  let peak = startRss;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    collectGarbage();
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  return { rssPeak: peak - startRss, retained: retainedNow() - startRetained };
}

const checkBounded = (label: string, growth: Growth) => {
  console.log(`${label}: RSS peak +${mib(growth.rssPeak)}, retained +${mib(growth.retained)}`);
  assert.ok(growth.rssPeak < RSS_GROWTH_BOUND, `RSS grew ${mib(growth.rssPeak)}`);
  assert.ok(growth.retained < RETAINED_GROWTH_BOUND, `retained memory grew ${mib(growth.retained)}`);
};

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

test('a stalled viewer pauses the PTY; on resume every line arrives, none dropped or doubled', async ({ harness, dir }) => {
  const LINES = 12_000;
  const client = await harness.connect({ mirror: false });
  let expected = 1;
  let broken: string | null = null;
  let carry = '';
  client.ws.on('message', (raw) => {
    const frame = JSON.parse(raw.toString()) as { type: string; data?: string };
    if (frame.type !== 'output' || !frame.data) return;
    const text = carry + frame.data;
    const lastBreak = text.lastIndexOf('\n');
    carry = text.slice(lastBreak + 1);
    for (const match of text.slice(0, lastBreak + 1).matchAll(/n=(\d+) x+\r\n/g)) {
      if (Number(match[1]) !== expected && !broken) broken = `expected n=${expected}, got n=${match[1]}`;
      expected = Number(match[1]) + 1;
    }
  });
  // ~12 MB of 1000-character lines: more than the kernel's socket buffers absorb, so the gateway's
  // own buffer must fill; long lines on a wide terminal keep the mirror's parsing cheap.
  client.send({
    type: 'init',
    projectPath: dir,
    initialCommand: `seq -f 'n=%g ${'x'.repeat(990)}' 1 ${LINES}; echo done-$((4*4)); read -r x`,
    cols: 1000,
    rows: 50,
  });
  await client.waitForOutput(/n=\d{3} /);
  client.ws.pause();
  const session = () => harness.route.listActors().find((s) => s.state === 'running');
  // Paused by the viewer, not only by a mirror that fell behind (which resumes once it catches up).
  const heldByViewer = () => session()?.pausedBy.some((source) => source !== 'screen');
  await eventually(heldByViewer, 'the stalled viewer to pause the PTY', 20_000);
  checkBounded('seq, stalled viewer', await memoryGrowthOver(1000));
  assert.ok(session()?.paused && heldByViewer(), 'still paused while the viewer does not read');
  client.ws.resume();
  await client.waitForOutput('done-16', 60_000);
  assert.is(broken, null);
  assert.is(expected, LINES + 1);
  await client.close();
});

test('`yes` with a stalled viewer: server memory stays bounded', async ({ harness, dir }) => {
  const client = await harness.connect({ mirror: false });
  // Long lines on a wide terminal: xterm parses those at tens of MB/s, so an unpaced PTY would show.
  client.send({ type: 'init', projectPath: dir, initialCommand: YES_WIDE + ' # stalled viewer', cols: 1000, rows: 50 });
  // Past the first 2 MB the mirror's scrollback (~13 MiB at 1000 columns) is full: growth after that is buffering.
  await client.waitFor(() => client.receivedChars > 2_000_000 || null, 'the mirror to fill');
  client.ws.pause();
  checkBounded('yes, stalled viewer', await memoryGrowthOver(OBSERVATION_MS));
  const received = client.receivedChars;
  client.ws.resume();
  await client.waitFor(() => client.receivedChars > received + 1_000_000 || null, 'output to flow again', 20_000);
  client.send({ type: 'input', data: '\x03' });
  await client.close();
});

test('`yes` with nobody attached: only the mirror consumes it, memory stays bounded', async ({ harness, dir }) => {
  const earlier = new Set(harness.route.listActors().map((s) => s.id));
  const client = await harness.connect({ mirror: false });
  client.send({ type: 'init', projectPath: dir, initialCommand: YES_WIDE + ' # detached', cols: 1000, rows: 50 });
  // Past the first 2 MB the mirror's scrollback (~13 MiB at 1000 columns) is full: growth after that is buffering.
  await client.waitFor(() => client.receivedChars > 2_000_000 || null, 'the mirror to fill');
  await client.close();
  const session = () => harness.route.listActors().find((s) => !earlier.has(s.id));
  await eventually(() => session()?.state === 'detached', 'the session to be detached');
  checkBounded('yes, detached', await memoryGrowthOver(OBSERVATION_MS));
  assert.is(session()?.state, 'detached', 'the PTY keeps running while detached');
  const again = await harness.connect({ mirror: false });
  again.send({ type: 'init', projectPath: dir, initialCommand: YES_WIDE + ' # detached', cols: 1000, rows: 50 });
  await again.waitForOutput('[Reconnected to existing session]');
  await again.waitForOutput('0000\r\n0000');
  again.send({ type: 'input', data: '\x03' });
  await again.close();
});

test.run();
