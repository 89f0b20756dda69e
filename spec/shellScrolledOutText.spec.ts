/**
 * The screen mirror leaves unparsed the plain lines of a batch that scroll out of the scrollback
 * within it (gateway/shell/scrolledOutText.ts). These tests hold it to its claim: on random
 * streams, cut into random writes and read at random points, a mirror that cuts ends every read
 * and the stream in exactly the state of one that parses every character, while it does cut.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { seededRandom } from '../gateway/app/demoAgent.js';
import { createScreenMirror, type ScreenMirror } from '../gateway/shell/screenMirror.js';
import { plainTextLength, scrolledOutLength } from '../gateway/shell/scrolledOutText.js';

test('the cut is at a CR followed, inside the plain text, by the lines that stay', () => {
  const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `line ${from + i}\r\n`).join('');
  assert.is(scrolledOutLength(lines(5), 10), 0, 'too few line feeds: nothing is cut');
  const data = lines(30);
  const cut = scrolledOutLength(data, 10);
  // The tenth line feed from the end is line 20's; the cut is at the CR just before it.
  assert.is(data.slice(cut), '\r\n' + lines(9, 21));

  // Plain text ends at an escape: the line feeds after it do not count.
  const colored = lines(30) + '\x1b[31m' + lines(30, 100);
  assert.is(scrolledOutLength(colored, 10), scrolledOutLength(lines(30), 10));
  assert.is(scrolledOutLength('\x1b[0m' + lines(30), 10), 0, 'a batch must start with plain text');
  // No CR before the lines that stay (a raw-mode program printing bare line feeds): no cut.
  assert.is(scrolledOutLength('x\n'.repeat(40), 10), 0);
  // TAB is plain; BS, DEL, other controls and anything beyond ASCII are not.
  assert.is(plainTextLength('a\tb\r\nc'), 6);
  for (const stop of ['\b', '\x7f', '\x00', '\x07', '\x0e', 'é', '\u009b', '\ud83d\ude00']) {
    assert.is(plainTextLength(`ab${stop}cd`), 2, JSON.stringify(stop));
  }
});

/** A deterministic generator (the demo agent's mulberry32), so a failure names the seed that reproduces it. */
function random(seed: number) {
  const next = seededRandom(seed);
  const int = (below: number) => Math.floor(next() * below);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  return { next, int, pick };
}

type Random = ReturnType<typeof random>;

const printable = (rng: Random, length: number) =>
  Array.from({ length }, () => String.fromCharCode(0x20 + rng.int(0x5f))).join('');

/**
 * Pieces of output: long runs of plain lines (what gets cut), and everything that changes the state
 * the cut relies on or that a cut must not cross: escape sequences and strings that contain plain
 * text, scroll regions, the alternate screen, wrap and insert modes, charsets, hyperlinks, cursor
 * moves up and back, wide characters, surrogate pairs, REP (which repeats the last printed character).
 */
function piece(rng: Random): string {
  switch (rng.int(26)) {
    case 0:
    case 1:
    case 2:
      return 'y\r\n'.repeat(10 + rng.int(200));
    case 3:
    case 4: {
      let lines = '';
      for (let n = 10 + rng.int(80); n > 0; n--) lines += printable(rng, rng.int(45)) + rng.pick(['\r\n', '\r\n', '\n', '\r', '\t', '']);
      return lines;
    }
    case 5:
      return `\x1b[${rng.int(6) + 1};${rng.int(6) + 1}r`;
    case 6:
      return '\x1b[r';
    case 7:
      return rng.pick(['\x1b[?1049h', '\x1b[?1049l', '\x1b[?47h', '\x1b[?47l']);
    case 8:
      return rng.pick(['\x1b[?7l', '\x1b[?7h', '\x1b[4h', '\x1b[4l', '\x1b[20h', '\x1b[20l', '\x1b[?6h', '\x1b[?6l', '\x1b[?45h']);
    case 9:
      return rng.pick(['\x1b(0', '\x1b(B', '\x0e', '\x0f', '\x1b)0']);
    case 10:
      return `\x1b]8;;https://example.com/${rng.int(100)}\x07` + printable(rng, rng.int(30)) + '\r\n'.repeat(rng.int(30)) + (rng.next() < 0.7 ? '\x1b]8;;\x07' : '');
    case 11:
      // A title (an OSC string) whose text is plain lines, ended by BEL or ST or not at all yet.
      return '\x1b]0;' + 'y\r\n'.repeat(rng.int(60)) + rng.pick(['\x07', '\x1b\\', '']);
    case 12:
      return '\x1bP' + '1;2|' + 'y\r\n'.repeat(rng.int(60)) + rng.pick(['\x1b\\', '']);
    case 13:
      return `\x1b[${rng.int(8) + 1};${rng.int(30) + 1}H`;
    case 14:
      return rng.pick(['\x1b[A', '\x1b[3A', '\x1bM', '\x1b[2S', '\x1b[2T', '\x1b[L', '\x1b[M', '\x1b[2J', '\x1b[K', '\x1b7', '\x1b8']);
    case 15:
      return `\x1b[${rng.pick(['0', '1', '31', '42', '7', '38;5;200', '48;2;1;2;3'])}m`;
    case 16:
      return rng.pick(['中文', 'é', '\u0301', '\ud83d\ude00', '\u200d', 'a\u0308']);
    case 17:
      return `\x1b[${rng.int(5)}b`;
    case 18:
      return rng.pick(['\b', '\b\b\b', '\x07', '\x1bH', '\x1b[g', '\x1b[3g']);
    case 19:
      return '\x1b[' + rng.pick(['12', '1;', '?25', '>']);
    case 20:
      return rng.pick(['\x1bc', '\x1b[!p']);
    case 21:
      return printable(rng, 100 + rng.int(200));
    case 22:
      return '\x1b[?2004h' + '\x1b[?1000h\x1b[?1006h';
    default:
      return rng.pick(['\r\n', 'prompt$ ', '\t\t', 'y\n'.repeat(rng.int(40))]);
  }
}

/** Cuts a stream into writes of random length, anywhere: inside sequences and surrogate pairs too. */
function writesOf(rng: Random, stream: string): string[] {
  const writes: string[] = [];
  for (let at = 0; at < stream.length; ) {
    const length = 1 + rng.int(rng.next() < 0.2 ? 20 : 700);
    writes.push(stream.slice(at, at + length));
    at += length;
  }
  return writes;
}

type Step = { write: string } | { read: true } | { resize: [number, number] };

function scenario(seed: number): Step[] {
  const rng = random(seed);
  let stream = '';
  for (let n = 20 + rng.int(40); n > 0; n--) stream += piece(rng);
  const steps: Step[] = [];
  for (const write of writesOf(rng, stream)) {
    steps.push({ write });
    const roll = rng.next();
    if (roll < 0.12) steps.push({ read: true });
    else if (roll < 0.14) steps.push({ resize: [10 + rng.int(30), 3 + rng.int(8)] });
  }
  return steps;
}

/**
 * Runs the steps through a mirror; every write is queued at once (as a mirror behind a stream gets
 * them), so batches hold many writes. Returns each read's state, then the end state, and the
 * state after a probe that depends on the cursor, the last printed character and the modes.
 */
async function run(mirror: ScreenMirror, steps: Step[]): Promise<string[]> {
  const states: string[] = [];
  for (const step of steps) {
    if ('write' in step) mirror.write(step.write);
    else if ('read' in step) mirror.whenParsed(() => states.push(mirror.serializeState()));
    else mirror.resize(...step.resize);
  }
  await new Promise<void>((resolve) => mirror.whenParsed(resolve));
  states.push(mirror.serializeState());
  mirror.write('\x1b[3bZ\x1b[2;1H\x1b[2bprobe\r\n\n\n');
  await new Promise<void>((resolve) => mirror.whenParsed(resolve));
  states.push(mirror.serializeState());
  return states;
}

for (const geometry of [
  { cols: 20, rows: 5, scrollback: 10 },
  { cols: 40, rows: 8, scrollback: 0 },
  { cols: 12, rows: 3, scrollback: 40 },
]) {
  test(`random streams at ${geometry.cols}×${geometry.rows}, scrollback ${geometry.scrollback}: cut and whole parses agree at every read`, async () => {
    let skipped = 0;
    let total = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const steps = scenario(seed * 7919 + geometry.cols);
      const options = { ...geometry, restoreMaxCells: 1_000_000 };
      const cutting = createScreenMirror(options);
      const whole = createScreenMirror({ ...options, skipScrolledOut: false });
      const [got, expected] = await Promise.all([run(cutting, steps), run(whole, steps)]);
      assert.is(whole.skippedChars, 0);
      skipped += cutting.skippedChars;
      for (const step of steps) if ('write' in step) total += step.write.length;
      cutting.dispose();
      whole.dispose();
      assert.is(got.length, expected.length);
      got.forEach((state, index) => {
        if (state !== expected[index]) assert.fixture(state, expected[index], `seed ${seed * 7919 + geometry.cols}, read ${index}`);
      });
    }
    // The property is only worth something if cuts happened: a good share of these streams is cut.
    assert.ok(skipped > total / 25, `cut ${skipped} of ${total} characters`);
  });
}

/**
 * Writes `first` (parsed alone: nothing waits yet) and then `batch` (queued behind it, so parsed as
 * one batch starting exactly after `first`) into a cutting and a whole mirror at 20×5 with 10
 * lines of scrollback (a cut keeps 2 × 5 + 10 = 20 line feeds). Returns both states and the cut.
 */
async function afterBatch(first: string, batch: string) {
  const options = { cols: 20, rows: 5, scrollback: 10, restoreMaxCells: 1_000_000 };
  const cutting = createScreenMirror(options);
  const whole = createScreenMirror({ ...options, skipScrolledOut: false });
  const [got, expected] = await Promise.all(
    [cutting, whole].map((mirror) => {
      mirror.write(first);
      mirror.write(batch);
      return new Promise<string>((resolve) => mirror.whenParsed(() => resolve(mirror.serializeState())));
    }),
  );
  const skipped = cutting.skippedChars;
  cutting.dispose();
  whole.dispose();
  return { got, expected, skipped };
}

const oldScreen = Array.from({ length: 15 }, (_, i) => `old line ${i}`).join('\r\n');
const manyLines = 'y\r\n'.repeat(60);

test('a batch starting with the cursor on the top row is cut, and keeps enough lines to push every old one out', async () => {
  // The first rows - 1 line feeds only move the cursor down over old lines; the cut keeps room for that.
  const { got, expected, skipped } = await afterBatch(oldScreen + '\x1b[H', manyLines);
  assert.is(got, expected);
  assert.ok(skipped > 0, 'cut');
  assert.not.ok(got.includes('old'));
});

test('a batch that starts inside an escape sequence is not cut', async () => {
  // "\x1b[?" then "1049h...": the batch's first characters end a sequence that switches screens.
  const { got, expected, skipped } = await afterBatch(oldScreen + '\x1b[?', '1049h' + manyLines);
  assert.is(got, expected);
  assert.is(skipped, 0);
});

test('a batch inside a scroll region is not cut: lines outside the region keep what was printed there', async () => {
  // The region is rows 2..4; DECSTBM homes the cursor to row 1, outside it, where the batch's first line prints.
  const { got, expected, skipped } = await afterBatch(oldScreen + '\x1b[2;4r', 'first\r\n' + manyLines);
  assert.is(got, expected);
  assert.is(skipped, 0);
  assert.ok(got.includes('first'));
});

test('a batch printed under an open hyperlink is not cut (xterm records the link on every line it spans)', async () => {
  const { got, expected, skipped } = await afterBatch('\x1b]8;;https://example.com/\x07', manyLines + '\x1b]8;;\x07');
  assert.is(got, expected);
  assert.is(skipped, 0);
});

test('a mirror behind `yes` at 120×40 with 1 000 lines of scrollback parses a few lines per batch, not the batch', async () => {
  const options = { cols: 120, rows: 40, scrollback: 1000, restoreMaxCells: 500_000 };
  const cutting = createScreenMirror(options);
  const whole = createScreenMirror({ ...options, skipScrolledOut: false });
  const chunk = 'y\r\n'.repeat(1365);
  let written = 0;
  for (const mirror of [cutting, whole]) {
    mirror.write('$ yes\r\n');
    for (let i = 0; i < 200; i++) mirror.write(chunk);
  }
  written = 200 * chunk.length;
  const states = await Promise.all(
    [cutting, whole].map((mirror) => new Promise<string>((resolve) => mirror.whenParsed(() => resolve(mirror.serializeState())))),
  );
  assert.is(states[0], states[1]);
  // The first write is parsed alone (nothing waited yet); the other 200 come as one batch, of
  // which 2 × 40 + 1 000 lines are kept.
  assert.ok(cutting.skippedChars > written - 1100 * 3 - chunk.length, `skipped ${cutting.skippedChars} of ${written}`);
  cutting.dispose();
  whole.dispose();
});

test.run();
