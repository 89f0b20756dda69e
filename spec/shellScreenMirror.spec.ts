import xtermHeadless from '@xterm/headless';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { createScreenMirror, type ScreenMirror } from '../gateway/shell/screenMirror.js';

type Terminal = InstanceType<typeof xtermHeadless.Terminal>;

interface Internals {
  _core: {
    coreService: { isCursorHidden: boolean };
    coreMouseService: { activeEncoding: string };
    buffer: { scrollTop: number; scrollBottom: number };
  };
}

/** Everything a program can observe about a terminal that matters after a restore. */
function stateOf(terminal: Terminal) {
  const buffer = terminal.buffer.active;
  const viewport: string[] = [];
  for (let y = 0; y < terminal.rows; y++) viewport.push(buffer.getLine(buffer.baseY + y)?.translateToString(true) ?? '');
  const core = (terminal as unknown as Internals)._core;
  return {
    viewport,
    cursor: [buffer.cursorX, buffer.cursorY],
    buffer: buffer.type,
    modes: terminal.modes,
    cursorHidden: core.coreService.isCursorHidden,
    mouseEncoding: core.coreMouseService.activeEncoding,
    scrollRegion: [core.buffer.scrollTop, core.buffer.scrollBottom],
  };
}

const write = (target: Terminal | ScreenMirror, data: string) =>
  new Promise<void>((resolve) => target.write(data, resolve));

/** Feeds `before` to a mirror and a reference terminal, restores the mirror into a client, then feeds `after` to both. */
async function roundTrip(before: string, after: string, size = { cols: 40, rows: 12 }) {
  const mirror = createScreenMirror({ ...size, scrollback: 100, restoreMaxCells: 500_000 });
  const reference = new xtermHeadless.Terminal({ ...size, scrollback: 100, allowProposedApi: true });
  const client = new xtermHeadless.Terminal({ ...size, scrollback: 100, allowProposedApi: true });
  await write(client, 'stale content the reset must erase\r\n\x1b[?1049h\x1b[?2004h');
  await write(mirror, before);
  const payload = await new Promise<string>((resolve) => mirror.whenParsed(() => resolve(mirror.restorePayload('BANNER\r\n'))));
  await write(reference, before + after);
  await write(client, payload + after);
  mirror.dispose();
  return { reference: stateOf(reference), client: stateOf(client), payload };
}

test('a plain screen with scrollback restores exactly, the banner kept above it', async () => {
  const lines = Array.from({ length: 30 }, (_, i) => `line ${i}\r\n`).join('');
  const { reference, client, payload } = await roundTrip(lines + 'prompt$ ', 'typed');
  assert.equal(client, reference);
  assert.ok(payload.startsWith('\x1bc'), 'starts with a full reset');
});

test('a full-screen program: alternate screen, scroll region, hidden cursor, SGR mouse, colours', async () => {
  const tui =
    'shell history\r\n\x1b[?1049h\x1b[2J\x1b[?25l\x1b[?1000h\x1b[?1006h\x1b[?2004h\x1b[1;1H\x1b[7m status bar \x1b[0m' +
    '\x1b[2;11r\x1b[5;3H\x1b[38;2;255;100;0mbody\x1b[0m';
  // After the restore the program keeps drawing and scrolling inside its region.
  const { reference, client } = await roundTrip(tui, '\x1b[11;1Hone\ntwo\nthree\x1b[12;1Hfooter');
  assert.equal(client, reference);
  assert.is(client.buffer, 'alternate');
  assert.ok(client.cursorHidden);
  assert.is(client.mouseEncoding, 'SGR');
  assert.equal(client.scrollRegion, [1, 10]);
});

test('leaving the alternate screen after a restore brings back the shell screen', async () => {
  const { reference, client } = await roundTrip('$ vim\r\n\x1b[?1049h\x1b[2Jediting', '\x1b[?1049l$ ');
  assert.equal(client, reference);
  assert.is(client.buffer, 'normal');
});

test('resize waits for earlier output to be parsed, then applies', async () => {
  const mirror = createScreenMirror({ cols: 20, rows: 5, scrollback: 10, restoreMaxCells: 500_000 });
  // Drawn at the right edge of a 20-column screen: the output was meant for the old size.
  mirror.write('\x1b[999CE\r\n');
  mirror.resize(40, 10);
  const payload = await new Promise<string>((resolve) => mirror.whenParsed(() => resolve(mirror.restorePayload(''))));
  const client = new xtermHeadless.Terminal({ cols: 40, rows: 10, allowProposedApi: true });
  await write(client, payload);
  assert.is(stateOf(client).viewport[0], ' '.repeat(19) + 'E', 'parsed at 20 columns, then resized');
  assert.is(client.cols, 40);
  mirror.dispose();
});

test('the restore is bounded in cells: a wide terminal restores less scrollback, always the whole screen', async () => {
  const mirror = createScreenMirror({ cols: 100, rows: 10, scrollback: 1000, restoreMaxCells: 5000 });
  for (let i = 0; i < 200; i++) mirror.write(`row-${i}\r\n`);
  const payload = await new Promise<string>((resolve) => mirror.whenParsed(() => resolve(mirror.restorePayload(''))));
  const rows = payload.match(/row-\d+/g)!;
  assert.is(rows.length, 49, '5000 cells / 100 columns = 50 lines, the last being the empty cursor line');
  assert.is(rows.at(-1), 'row-199');
  mirror.dispose();
});

test.run();
