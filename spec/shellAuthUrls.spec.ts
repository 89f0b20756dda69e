import { test } from 'uvu';
import * as assert from 'uvu/assert';

import {
  completeUrls,
  createAuthUrlDetector,
  rewriteOpenUrl,
  stripAnsi,
} from '../gateway/shell/authUrlDetector.js';
import { collectGarbage } from './support/collectGarbage.js';

const WINDOW = 32_768;

test('ANSI sequences are stripped: CSI, OSC, charset designations', () => {
  assert.is(stripAnsi('\x1b[1;31mred\x1b[0m \x1b]0;title\x07x\x1b(By\x1b[?25h'), 'red xy');
});

test('a URL is reported once, trimmed of trailing punctuation, validated', () => {
  const detector = createAuthUrlDetector(WINDOW);
  assert.equal(detector.feed('Visit \x1b[4mhttps://example.com/login?x=1\x1b[0m.\r\n'), [
    { url: 'https://example.com/login?x=1', autoOpen: false },
  ]);
  assert.equal(detector.feed('again https://example.com/login?x=1\r\n'), []);
  assert.equal(detector.feed('http:// is not a URL\r\n'), []);
});

test('a URL wrapped onto the next line, across two chunks, is reported whole', () => {
  const detector = createAuthUrlDetector(WINDOW);
  const first = detector.feed('https://example.com/authorize?');
  const second = detector.feed('\r\ncode=abc\r\n');
  assert.equal(first, [{ url: 'https://example.com/authorize', autoOpen: false }]);
  assert.equal(second, [{ url: 'https://example.com/authorize?code=abc', autoOpen: false }]);
});

test('a URL split by a chunk boundary in the middle is completed by the next chunk', () => {
  const detector = createAuthUrlDetector(WINDOW);
  detector.feed('Go to https://example.com/au');
  assert.equal(detector.feed('th?state=xyz now\r\n'), [{ url: 'https://example.com/auth?state=xyz', autoOpen: false }]);
});

test('text after a URL on its own line is not glued to it', () => {
  const detector = createAuthUrlDetector(WINDOW);
  assert.equal(detector.feed('open https://example.com/a in a browser\r\nWaiting...\r\n'), [
    { url: 'https://example.com/a', autoOpen: false },
  ]);
});

test('autoOpen: true when the same chunk asks for the browser', () => {
  const detector = createAuthUrlDetector(WINDOW);
  assert.equal(detector.feed("Browser didn't open? Use the url below to sign in:\r\n\r\nhttps://claude.ai/oauth?c=1\r\n"), [
    { url: 'https://claude.ai/oauth?c=1', autoOpen: true },
  ]);
});

test('autoOpen: true when the request came in an earlier chunk than its URL', () => {
  const detector = createAuthUrlDetector(WINDOW);
  assert.equal(detector.feed("Browser didn't open? Use the url below to sign in:\r\n\r\n"), []);
  assert.equal(detector.feed('https://claude.ai/oauth?c=1\r\n'), [{ url: 'https://claude.ai/oauth?c=1', autoOpen: true }]);
  assert.equal(detector.feed('https://example.com/help\r\n'), [{ url: 'https://example.com/help', autoOpen: false }], 'only the first URL after it');
});

test('a request split from its URL, and the URL split by a chunk boundary, still auto-opens the whole URL', () => {
  const detector = createAuthUrlDetector(WINDOW);
  detector.feed("Browser didn't open? Use the url below to sign in:\r\n\r\n");
  detector.feed('https://claude.ai/oa');
  assert.equal(detector.feed('uth?c=1\r\n'), [{ url: 'https://claude.ai/oauth?c=1', autoOpen: true }]);
});

test('a URL printed long after an unanswered request is not auto-opened', () => {
  const detector = createAuthUrlDetector(WINDOW);
  detector.feed('Continue in your browser\r\n');
  detector.feed('log line\r\n'.repeat(100));
  assert.equal(detector.feed('https://example.com/later\r\n'), [{ url: 'https://example.com/later', autoOpen: false }]);
});

test('autoOpen: true is still sent when the request comes after the URL was announced', () => {
  const detector = createAuthUrlDetector(WINDOW);
  assert.equal(detector.feed('https://example.com/device\r\n'), [{ url: 'https://example.com/device', autoOpen: false }]);
  assert.equal(detector.feed('Press Enter to open it\r\n'), [{ url: 'https://example.com/device', autoOpen: true }]);
  assert.equal(detector.feed('Press Enter to open it\r\n'), [], 'only once');
});

test('each phrase asks for the browser, case-insensitively', () => {
  for (const phrase of ["BROWSER DIDN'T OPEN", 'open this URL', 'Continue in your browser', 'press enter to open', 'OPEN_URL:']) {
    const detector = createAuthUrlDetector(WINDOW);
    assert.equal(detector.feed(`${phrase} https://example.com/p\r\n`), [{ url: 'https://example.com/p', autoOpen: true }], phrase);
  }
});

test('prefixes of a longer URL (the first part of a wrapped URL) are dropped', () => {
  const candidates = ['https://a.example/x', 'https://a.example/x?y=1', 'https://b.example/'].map((raw, at) => ({ raw, at }));
  assert.equal(completeUrls(candidates).map((entry) => entry.url), ['https://a.example/x?y=1', 'https://b.example/']);
});

test('the URL printed last is the one auto-opened', () => {
  const detector = createAuthUrlDetector(WINDOW);
  detector.feed('docs: https://example.com/a/very/long/documentation/path\r\n');
  assert.equal(detector.feed('https://example.com/login\r\nPress Enter to open\r\n'), [
    { url: 'https://example.com/login', autoOpen: true },
  ]);
});

test('the window is bounded: a URL that scrolled out of it counts as new when printed again', () => {
  const detector = createAuthUrlDetector(100);
  assert.is(detector.feed('https://example.com/z\r\n').length, 1);
  detector.feed('x'.repeat(200) + '\r\n');
  detector.feed('https://other.example/\r\n');
  assert.equal(detector.feed('https://example.com/z\r\n'), [{ url: 'https://example.com/z', autoOpen: false }]);
});

test('output that left the window is let go: memory held stays near the window, whatever the chunk size', () => {
  // A PTY read is up to 64 KiB. The window used to keep up to 1 024 such chunks after they left
  // it (64 MiB per PTY), until its array was compacted.
  const CHUNK_CHARS = 64 * 1024;
  const CHUNKS = 1000;
  const detector = createAuthUrlDetector(WINDOW);
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < CHUNKS; i++) {
    // A distinct string each time (no URL in it, so nothing is scanned).
    detector.feed(`${i}:`.padEnd(CHUNK_CHARS, 'y'));
  }
  collectGarbage();
  const held = process.memoryUsage().heapUsed - before;
  assert.ok(held < 8 * 1024 * 1024, `the detector holds ${(held / 1024 / 1024).toFixed(1)} MiB after ${CHUNKS} chunks of ${CHUNK_CHARS} characters`);
  // It still works across the boundary after all that.
  assert.equal(detector.feed('https://example.com/after\r\n'), [{ url: 'https://example.com/after', autoOpen: false }]);
});

test('OPEN_URL: is rewritten for display', () => {
  assert.is(rewriteOpenUrl('OPEN_URL: https://example.com/a\r\n'), '[INFO] Opening in browser: https://example.com/a\r\n');
  assert.is(rewriteOpenUrl('nothing here'), 'nothing here');
});

test.run();
