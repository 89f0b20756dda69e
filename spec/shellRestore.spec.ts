import * as assert from 'uvu/assert';

import { startShellHarness, shellSuite } from './support/shellHarness.js';
import type { ScreenState } from './support/shellClient.js';
import { stripAnsi } from '../gateway/shell/authUrlDetector.js';

const BARE_BASH = "PS1='$ ' exec bash --norc --noprofile";

const test = shellSuite('shell screen restore');

const visible = (state: ScreenState) => ({ viewport: state.viewport, cursor: state.cursor, buffer: state.buffer });

test('a screen drawn with cursor moves and the alternate screen comes back identical', async ({ harness, dir }) => {
  const a = await harness.connect();
  a.init({ projectPath: dir, isPlainShell: true, initialCommand: BARE_BASH });
  await a.waitForOutput('$ ');
  // Normal screen with scrollback, then a full-screen "TUI": alternate screen, colors, absolute moves.
  a.input(
    "for i in $(seq 1 40); do echo line-$i; done; printf '\\e[?1049h\\e[2J\\e[3;5H\\e[1;31mTITLE\\e[0m\\e[10;20Hbody\\e[44m blue \\e[0m\\e[5;1H'; printf 'DR%sN' AW; read -r x\r",
  );
  await a.waitForOutput('DRAWN');
  const before = await a.screen();
  assert.is(before.buffer, 'alternate');

  // A second viewer attaches while A stays: its restore must match A's live screen.
  const b = await harness.connect();
  b.init({ projectPath: dir, isPlainShell: true, initialCommand: BARE_BASH });
  await b.waitForOutput('[Reconnected to existing session]');
  await b.waitFor(() => b.frames.filter((f) => f.type === 'output').length >= 2 || null, 'the restore frame');
  assert.equal(visible(await b.screen()), visible(before));

  // Everyone leaves, the PTY is detached; a third viewer still gets the same screen.
  await a.close();
  await b.close();
  const c = await harness.connect();
  c.init({ projectPath: dir, isPlainShell: true, initialCommand: BARE_BASH });
  await c.waitFor(() => c.frames.filter((f) => f.type === 'output').length >= 2 || null, 'the restore frame');
  const restored = await c.screen();
  assert.equal(visible(restored), visible(before));

  // Leaving the TUI brings back the normal screen, with the scrollback drawn before it.
  c.input('\r');
  c.input('printf "\\e[?1049l"; echo after-$((1))-tui\r');
  await c.waitForOutput('after-1-tui');
  const normal = await c.screen();
  assert.is(normal.buffer, 'normal');
  assert.ok(normal.lines.includes('line-40'), 'scrollback restored');
  assert.ok(normal.lines.includes('line-1'), 'oldest scrollback line restored');
  await c.close();
});

const outputFrames = (client: { frames: Array<{ type: string }> }) => client.frames.filter((f) => f.type === 'output').length;

test('attaching during a stream: nothing lost or doubled at the seam between restore and live output', async ({ harness, dir }) => {
  // Output is produced faster than it is parsed, so chunks are always in flight when b attaches.
  const command = "seq -f 'n=%g' 1 200000; echo stream-$((6*7)); read -r x";
  const a = await harness.connect({ mirror: false });
  a.init({ projectPath: dir, isPlainShell: true, initialCommand: command });
  await a.waitForOutput(/n=2\d{4}\r\n/, 20_000);
  const b = await harness.connect({ scrollback: 100 });
  b.init({ projectPath: dir, isPlainShell: true, initialCommand: command });
  await b.waitForOutput('stream-42', 30_000);
  const outputs = b.frames.flatMap((frame) => (frame.type === 'output' ? [frame.data] : []));
  assert.ok(outputs[0].includes('[Reconnected to existing session]'));
  const restore = stripAnsi(outputs[1]);
  // Which lines it holds depends on how far the stream got before b's init arrived: its last
  // scrollback's worth, somewhere past what a had seen.
  assert.ok(/n=\d+\r\n/.test(restore), 'the restore holds the stream so far');
  assert.not.ok(restore.includes('n=200000'), 'b attached mid-stream');
  // The restore's last row may be a partial line that live output completes. When the PTY's read
  // split a line between its \r and its \n, the restore ends with the cursor moved back to column
  // 0 (ESC[7D, stripped here) and live output starts with the bare \n: that line ends in \n alone.
  const numbers = [...(restore + outputs.slice(2).join('')).matchAll(/n=(\d+)\r?\n/g)].map((m) => Number(m[1]));
  assert.is(numbers[numbers.length - 1], 200000);
  numbers.forEach((n, i) => {
    if (i > 0 && n !== numbers[i - 1] + 1) assert.unreachable(`n=${numbers[i - 1]} is followed by n=${n}`);
  });
  await a.close();
  await b.close();
});

test('after a flood of short lines, a new viewer’s restore holds exactly the newest lines a live viewer has', async ({ harness, dir }) => {
  // `seq` floods the mirror faster than xterm parses line feeds, so it gets its backlog in
  // batches and skips what scrolls out within one (gateway/shell/scrolledOutText.ts); viewer a's
  // own terminal parses every character. What b is restored to must be what a shows.
  const command = "seq 1 300000; printf 'END-%s\\n' OF-FLOOD; read -r x";
  const a = await harness.connect();
  a.init({ projectPath: dir, isPlainShell: true, initialCommand: command });
  await a.waitForOutput('END-OF-FLOOD', 60_000);
  const b = await harness.connect();
  b.init({ projectPath: dir, isPlainShell: true, initialCommand: command });
  await b.waitFor(() => outputFrames(b) >= 2 || null, 'the restore frame');
  const live = await a.screen();
  const restored = await b.screen();
  // The mirror keeps 1 000 lines of scrollback (the default) above the 24-row screen.
  const kept = 1000 + 24;
  assert.ok(live.lines.length > kept, 'a holds more than the mirror keeps');
  assert.equal(restored.lines.slice(-kept), live.lines.slice(-kept));
  assert.equal(restored.cursor, live.cursor);
  assert.ok(restored.lines.includes('300000'), 'the last number');
  assert.ok(restored.lines.includes(String(300000 - 990)), 'a line from the top of the scrollback');
  await a.close();
  await b.close();
});

test('resize keeps the mirror in step, so a restore at the new size matches', async ({ harness, dir }) => {
  const a = await harness.connect();
  a.init({ projectPath: dir, isPlainShell: true, initialCommand: `${BARE_BASH} # resize` });
  await a.waitForOutput('$ ');
  a.terminal!.resize(120, 40);
  a.send({ type: 'resize', cols: 120, rows: 40 });
  a.input("clear; printf '\\e[36;100Hfar-corner'; stty size; read -r x\r");
  await a.waitForOutput('40 120');
  const b = await harness.connect({ cols: 120, rows: 40 });
  b.init({ projectPath: dir, isPlainShell: true, initialCommand: `${BARE_BASH} # resize` });
  await b.waitFor(() => outputFrames(b) >= 2 || null, 'the restore frame');
  const restored = await b.screen();
  assert.ok(restored.viewport[35].includes('far-corner'));
  assert.equal(restored.viewport, (await a.screen()).viewport);
  assert.equal(restored.cursor, (await a.screen()).cursor);
  await a.close();
  await b.close();
});

test('with shell.screenMirror: in-process the restore is the same', async ({ dir }) => {
  const harness = await startShellHarness({ shell: { screenMirror: 'in-process' } });
  try {
    const command = `${BARE_BASH} # in-process`;
    const a = await harness.connect();
    a.init({ projectPath: dir, isPlainShell: true, initialCommand: command });
    await a.waitForOutput('$ ');
    a.input("printf '\\e[2J\\e[4;7Hplaced'; read -r x\r");
    await a.waitForOutput('placed');
    const b = await harness.connect();
    b.init({ projectPath: dir, isPlainShell: true, initialCommand: command });
    await b.waitFor(() => outputFrames(b) >= 2 || null, 'the restore frame');
    assert.equal(visible(await b.screen()), visible(await a.screen()));
    assert.ok((await b.screen()).viewport[3].includes('placed'));
  } finally {
    await harness.close();
  }
});

test.run();
