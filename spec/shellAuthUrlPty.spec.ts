import fs from 'node:fs';
import path from 'node:path';

import * as assert from 'uvu/assert';

import { eventually, shellSuite } from './support/shellHarness.js';

const test = shellSuite('shell auth URLs over a PTY');

test('a URL wrapped onto the next line, printed in two writes, is announced whole before the output that completed it', async ({ harness, dir }) => {
  const client = await harness.connect();
  const marker = path.join(dir, 'first-half');
  client.init({
    projectPath: dir,
    // No `read` between the halves: its echo of Enter would put a blank line inside the URL.
    initialCommand: `printf 'https://example.com/authorize?'; touch ${marker}; while [ -e ${marker} ]; do sleep 0.02; done; printf '\\ncode=abc\\n'; read -r y`,
  });
  await client.waitForFrame('auth_url', (f) => f.url === 'https://example.com/authorize');
  await eventually(() => fs.existsSync(marker), 'the first half');
  fs.unlinkSync(marker);
  const whole = await client.waitForFrame('auth_url', (f) => f.url === 'https://example.com/authorize?code=abc');
  assert.is(whole.autoOpen, false);
  const announced = client.frames.indexOf(whole);
  // The frame that completed the URL: the first after which the output so far contains its end
  // (one write may still reach us in two reads).
  let seen = '';
  const completing = client.frames.findIndex((f) => f.type === 'output' && (seen += f.data).includes('code=abc'));
  assert.ok(announced < completing, 'auth_url precedes the output frame that completed it');
  await client.close();
});

test('autoOpen: true when the output asks for the browser, in the same chunk or later', async ({ harness, dir }) => {
  const client = await harness.connect();
  client.init({
    projectPath: dir,
    initialCommand:
      "printf \"Browser didn't open? Use the url below to sign in:\\n\\nhttps://example.com/oauth?x=1\\n\"; read -r x; printf 'https://example.com/device\\n'; read -r y; printf 'Press Enter to open the page\\n'; read -r z",
  });
  const first = await client.waitForFrame('auth_url', (f) => f.url === 'https://example.com/oauth?x=1');
  assert.is(first.autoOpen, true);
  client.input('\r');
  const device = await client.waitForFrame('auth_url', (f) => f.url === 'https://example.com/device');
  assert.is(device.autoOpen, false);
  client.input('\r');
  await client.waitForFrame('auth_url', (f) => f.url === 'https://example.com/device' && f.autoOpen);
  const oauthFrames = client.frames.filter((f) => f.type === 'auth_url' && f.url === 'https://example.com/oauth?x=1');
  assert.is(oauthFrames.length, 1, 'announced once');
  await client.close();
});

test('OPEN_URL: is shown as an info line and auto-opens', async ({ harness, dir }) => {
  const client = await harness.connect();
  client.init({ projectPath: dir, initialCommand: "printf 'OPEN_URL: https://example.com/open\\n'; read -r x" });
  await client.waitForOutput('[INFO] Opening in browser: https://example.com/open');
  const frame = await client.waitForFrame('auth_url', (f) => f.url === 'https://example.com/open');
  assert.is(frame.autoOpen, true);
  await client.close();
});

test('detection runs while detached: the URL reaches the next viewer after its restore', async ({ harness, dir }) => {
  const go = path.join(dir, 'print-now');
  const command = `echo pid=$$; while [ ! -e ${go} ]; do sleep 0.02; done; printf 'Open this URL: https://example.com/while-away\\n'; read -r y`;
  const first = await harness.connect();
  first.init({ projectPath: dir, initialCommand: command });
  await first.waitForOutput(/pid=\d+/);
  const pid = Number(/pid=(\d+)/.exec(first.output)![1]);
  await first.close();
  const session = () => harness.route.listActors().find((s) => s.pid === pid);
  await eventually(() => session()?.state === 'detached', 'the PTY to be detached');
  fs.writeFileSync(go, '');
  await eventually(() => session()?.undeliveredAuthUrls === 1, 'the URL to be found while detached');
  const second = await harness.connect();
  second.init({ projectPath: dir, initialCommand: command });
  const frame = await second.waitForFrame('auth_url');
  assert.equal(frame, { type: 'auth_url', url: 'https://example.com/while-away', autoOpen: true });
  const restoreIndex = second.frames.findIndex((f) => f.type === 'output' && f.data.includes('while-away'));
  assert.ok(restoreIndex >= 0 && restoreIndex < second.frames.indexOf(frame), 'after the restore that shows it');
  assert.is(session()!.undeliveredAuthUrls, 0);
  await second.close();
});

test.run();
