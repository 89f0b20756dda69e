#!/usr/bin/env node
// uiCheck.mjs: drive claudecodeui's real browser UI against a running claudecodeui server
// (as shipped, or with agent-gateway swapped in) and check what a user sees around reloads.
//
// Usage
//   node examples/claudecodeui/uiCheck.mjs                # BASE/TOKEN from the environment, else $WORK/env
//   WORK=<the compat WORK dir> node examples/claudecodeui/uiCheck.mjs
//   ENV_FILE=<path of an env file written by `setup.sh boot`> node examples/claudecodeui/uiCheck.mjs
//
//   The server is the one `bash setup.sh boot` (../shared/compat/claudecodeui) starts: a registered
//   user `compat` / `compat-password-1`, one project, the fake `cursor-agent` on its PATH.
//
// Environment (all optional)
//   BASE, TOKEN         server URL and a bearer token (default: read from the env file)
//   ENV_FILE | WORK     the env file (KEY=VALUE lines), default $WORK/env
//   RELOADS=10          reload cycles (each: start a slow run, reload after 1-3 s, wait for its end)
//   CHROMIUM=/usr/bin/chromium   the browser binary (never downloaded)
//   SHOT_DIR=/tmp       where failure screenshots go (uicheck-*.png)
//   SUMMARY_JSON=<file> also write the figures as JSON
//   DUMP_FRAMES=<file>  also write every recorded /ws frame (JSON lines: dir, sock, t, msg)
//   SEED=<n>            seed of the reload delays (default: time based; printed)
//   CCUI_USER, CCUI_PASS  login (default compat / compat-password-1)
//   HEADFUL=1           show the browser (needs a display)
//
//   Tip: boot the server with FAKE_DELAY_MS=300 (`FAKE_DELAY_MS=300 bash setup.sh boot`) so that
//   every reload lands mid-stream; at the default 150 ms/chunk many runs end during the reload.
//
// What it does, all through the UI (besides it only two read-only REST calls: GET /api/projects
// from the page, for the project's display name, and GET /api/providers/sessions/running, to
// confirm the server finished a run):
//   1. log in, open the project, pick Cursor (model "auto") in the model selector;
//   2. chat: a 10-chunk reply must be rendered exactly once;
//   3. abort: a slow run (30 chunks) is stopped with the UI's Stop button; the UI must leave the
//      running state and the page must receive exactly one `complete` (aborted) for it;
//   4. RELOADS times: start a slow run, reload after a random 1-3 s, wait for the run to finish,
//      then inspect the rendered chat (a chunk shown twice, out of order, missing, or another run's
//      text inside this run's reply) and the frames the page received. Every WebSocket frame is
//      recorded through a hook installed by page.addInitScript (it survives reloads), so we count
//      `complete` frames per run, frames of other runs (runId differs, or, for servers without
//      runId, a timestamp older than this run's send) and frames received twice on one socket
//      (same sessionId + seq);
//      While the reloaded page streams the run and the server still lists it as running, the UI
//      must show it running (a Stop button): "idleWhileRunning" counts reloads where it did not.
//      A run that ends while the page is reloading is reported as "endedInReload": neither server
//      replays a finished run to a client with lastSeq 0 and the fake agent writes no transcript,
//      so its reply is legitimately absent and no `complete` is expected on the new page;
//   5. open the Shell tab: a prompt must appear on /shell, and a typed echo must come back.
// Prints a table and exits 0 when everything passed, 1 on a failed check, 2 on a setup error.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

// ---------------------------------------------------------------- configuration
function readEnvFile() {
  const file = process.env.ENV_FILE || (process.env.WORK ? path.join(process.env.WORK, 'env') : null);
  if (!file || !fs.existsSync(file)) return {};
  const out = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}
const fileEnv = readEnvFile();
const BASE = (process.env.BASE || fileEnv.BASE || '').replace(/\/$/, '');
const TOKEN = process.env.TOKEN || fileEnv.TOKEN || '';
const RELOADS = Math.max(0, Math.min(200, Number(process.env.RELOADS ?? 10) || 0));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOT_DIR = process.env.SHOT_DIR || os.tmpdir();
const USER = process.env.CCUI_USER || 'compat';
const PASS = process.env.CCUI_PASS || 'compat-password-1';
const RUN_TIMEOUT_MS = 45_000; // a slow run is 30 chunks x FAKE_DELAY_MS (150 ms) plus start-up
const TOTAL_TIMEOUT_MS = 15 * 60_000;
let seed = Number(process.env.SEED) || (Date.now() % 100000);
const SEED0 = seed;
function rand() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; }
const tag = () => Math.floor(rand() * 36 ** 4).toString(36).padStart(4, '0');

if (!BASE) { console.error('uiCheck: no BASE (set BASE, ENV_FILE or WORK)'); process.exit(2); }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log(`[uiCheck ${new Date().toISOString().slice(11, 23)}]`, ...a);

// ---------------------------------------------------------------- the frame recorder
// Runs in the page before its own scripts, on every load. Wraps window.WebSocket so every frame in
// and out is reported to Node (exposeBinding survives reloads; page state does not).
const HOOK = `(() => {
  const Native = window.WebSocket;
  if (!Native || Native.__uiCheck) return;
  const load = Math.random().toString(36).slice(2, 8);
  let n = 0, i = 0;
  const report = (rec) => { try { window.__uiCheckFrame({ ...rec, load, i: ++i, t: Date.now() }); } catch (e) {} };
  class Hooked extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      const sock = load + ':' + (++n);
      let p = '';
      try { p = new URL(url, location.href).pathname; } catch (e) {}
      report({ dir: 'open', sock, path: p });
      this.addEventListener('message', (ev) => report({ dir: 'in', sock, path: p, data: typeof ev.data === 'string' ? ev.data : '[binary]' }));
      this.addEventListener('close', (ev) => report({ dir: 'close', sock, path: p, code: ev.code }));
      this.__sock = sock; this.__path = p;
    }
    send(data) {
      report({ dir: 'out', sock: this.__sock, path: this.__path, data: typeof data === 'string' ? data : '[binary]' });
      return super.send(data);
    }
  }
  Hooked.__uiCheck = true;
  window.WebSocket = Hooked;
})();`;

const frames = []; // { dir, sock, path, t, load, i, data?, msg? }
let shellText = ''; // /shell output, bounded
function onFrame(rec) {
  if (rec.path === '/shell') {
    if (rec.dir === 'in' && rec.data) {
      try { const m = JSON.parse(rec.data); if (m.type === 'output' && typeof m.data === 'string') shellText = (shellText + m.data).slice(-65536); } catch {}
    }
    frames.push({ ...rec, data: undefined });
    return;
  }
  if (rec.path !== '/ws') return;
  if (rec.data && rec.data !== '[binary]') { try { rec.msg = JSON.parse(rec.data); } catch {} }
  delete rec.data;
  if (frames.length < 200_000) frames.push(rec);
}

// ---------------------------------------------------------------- helpers
async function waitFor(what, fn, timeoutMs, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (let k = 0; Date.now() < deadline && k < 100_000; k++) {
    const v = await fn();
    if (v) return v;
    await sleep(stepMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
async function runningOnServer(sessionId) {
  if (!TOKEN) return null;
  try {
    const r = await fetch(`${BASE}/api/providers/sessions/running`, { headers: { authorization: `Bearer ${TOKEN}` } });
    if (!r.ok) return null;
    const body = await r.json();
    const list = Array.isArray(body) ? body : Array.isArray(body?.data) ? body.data : Array.isArray(body?.data?.sessions) ? body.data.sessions : Array.isArray(body?.sessions) ? body.sessions : [];
    return list.some((x) => x?.sessionId === sessionId);
  } catch { return null; }
}
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
let shotN = 0;
async function shot(page, name) {
  const file = path.join(SHOT_DIR, `uicheck-${process.pid}-${++shotN}-${name}.png`);
  try { await page.screenshot({ path: file, fullPage: false }); log('screenshot', file); } catch (e) { log('screenshot failed', e.message); }
  return file;
}
async function chatText(page) {
  return page.evaluate(() => (document.querySelector('main') || document.body).innerText);
}
const stopButton = (page) => page.locator('button[aria-label="Stop"]:visible').first();
async function isBusy(page) { return (await page.locator('button[aria-label="Stop"]:visible').count()) > 0; }

// The run a frame belongs to: its runId when the server sends one, else "before/after this run's send".
function classify(f, run) {
  const m = f.msg;
  if (m.runId != null && run.runId != null) return m.runId === run.runId ? 'current' : 'other';
  const ts = Date.parse(m.timestamp ?? '');
  if (Number.isFinite(ts)) return ts >= run.sentAt - 50 ? 'current' : 'other';
  return f.t >= run.sentAt ? 'current' : 'other';
}
function sessionFrames(sessionId, since) {
  return frames.filter((f) => f.dir === 'in' && f.msg && f.msg.sessionId === sessionId && f.t >= since);
}
// Learn the current run's id (when the server sends runIds) from the first sequenced frame stamped
// after our send.
function learnRunId(run) {
  if (run.runId != null) return;
  for (const f of sessionFrames(run.sessionId, run.sentAt)) {
    const ts = Date.parse(f.msg.timestamp ?? '');
    if (f.msg.runId != null && typeof f.msg.seq === 'number' && Number.isFinite(ts) && ts >= run.sentAt - 50) { run.runId = f.msg.runId; return; }
  }
}
function currentCompletes(run) {
  learnRunId(run);
  return sessionFrames(run.sessionId, run.sentAt).filter((f) => f.msg.kind === 'complete' && classify(f, run) === 'current');
}

function analyseFrames(run) {
  learnRunId(run);
  const fs_ = sessionFrames(run.sessionId, run.sentAt);
  const seen = new Map();
  let duplicates = 0, other = 0, completesCurrent = 0, completesOther = 0;
  for (const f of fs_) {
    const m = f.msg;
    if (typeof m.seq === 'number') {
      const key = `${f.sock}|${m.sessionId}|${m.seq}`;
      if (seen.has(key)) duplicates++; else seen.set(key, 1);
    }
    const c = typeof m.seq === 'number' || m.kind === 'complete' ? classify(f, run) : 'gateway';
    if (c === 'other') other++;
    if (m.kind === 'complete') { if (c === 'current') completesCurrent++; else completesOther++; }
  }
  return { duplicates, other, completesCurrent, completesOther, sockets: new Set(fs_.map((f) => f.sock)).size };
}

// The chat.subscribe frames the page sent since the run started: "lastSeq@socket-number", and the
// ack's isProcessing (P) or not (-).
function subscribesSince(run) {
  const out = [];
  for (const f of frames) {
    if (f.t < run.sentAt || f.dir !== 'out' || f.msg?.type !== 'chat.subscribe') continue;
    for (const s of f.msg.sessions ?? []) if (s?.sessionId === run.sessionId) {
      const ack = frames.find((g) => g.sock === f.sock && g.i > f.i && g.dir === 'in' && g.msg?.kind === 'chat_subscribed' && g.msg.sessionId === run.sessionId);
      out.push(`${s.lastSeq ?? 'none'}${ack ? (ack.msg.isProcessing ? 'P' : '-') : '?'}`);
    }
  }
  return out.join(',');
}

// Rendered text: this run's chunks each exactly once, in order, nothing of another run among them.
function analyseText(text, prefix, n, knownPrefixes) {
  const positions = [];
  let dup = 0, missing = 0;
  for (let k = 1; k <= n; k++) {
    const re = new RegExp(escapeRe(`chunk ${k}/${n} (echo: ${prefix})`), 'g');
    const hits = [...text.matchAll(re)].map((x) => x.index);
    if (hits.length === 0) missing++;
    if (hits.length > 1) dup += hits.length - 1;
    positions.push(hits[0] ?? -1);
  }
  const present = positions.filter((p) => p >= 0);
  let outOfOrder = 0;
  for (let k = 1; k < present.length; k++) if (present[k] < present[k - 1]) outOfOrder++;
  let foreign = 0, foreignDup = 0;
  if (present.length) {
    const lo = Math.min(...present), hi = Math.max(...present);
    for (const m of text.matchAll(/chunk (\d+)\/(\d+) \(echo: ([^)]*)\)/g)) {
      if (m[3] !== prefix && m.index > lo && m.index < hi) foreign++;
    }
  }
  for (const p of knownPrefixes) {
    if (p === prefix) continue;
    const counts = new Map();
    for (const m of text.matchAll(new RegExp(`chunk (\\d+)/\\d+ \\(echo: ${escapeRe(p)}\\)`, 'g'))) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
    for (const c of counts.values()) if (c > 1) foreignDup += c - 1;
  }
  return { dup, missing, outOfOrder, foreign, foreignDup, garbled: dup > 0 || outOfOrder > 0 || foreign > 0 || foreignDup > 0 };
}

// ---------------------------------------------------------------- the UI steps
async function login(page) {
  await page.goto(BASE, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  await page.waitForSelector('#username', { timeout: 30_000 });
  await page.fill('#username', USER);
  await page.fill('#password', PASS);
  await page.click('button[type=submit]');
  await page.waitForSelector('textarea:visible', { timeout: 30_000 });
}

async function openProjectAndPickCursor(page) {
  const projects = await page.evaluate(async () => {
    const r = await fetch('/api/projects', { headers: { authorization: `Bearer ${localStorage.getItem('auth-token')}` } });
    return r.ok ? r.json() : [];
  });
  const project = Array.isArray(projects) ? projects[0] : null;
  if (!project) throw new Error('no project listed by /api/projects');
  const name = project.displayName;
  // The sidebar row of the project, then its "New Session" button.
  const row = page.getByText(name, { exact: true }).filter({ visible: true }).first();
  await row.waitFor({ timeout: 15_000 });
  if (!(await page.getByRole('button', { name: /New Session/ }).first().isVisible().catch(() => false))) await row.click();
  await page.getByRole('button', { name: /New Session/ }).first().click({ timeout: 10_000 });
  // Model selector: Cursor, model "auto".
  await page.getByText('Click to change model').first().click({ timeout: 15_000 });
  const dialog = page.locator('[role=dialog]');
  await dialog.getByText('auto', { exact: true }).first().click({ timeout: 10_000 });
  await waitFor('the provider card to say Cursor', async () => /Cursor/.test(await chatText(page)), 10_000);
  return project;
}

async function send(page, content) {
  const before = frames.length;
  const box = page.locator('textarea:visible').first();
  await box.click();
  await box.fill(content);
  const sentAt = Date.now();
  await box.press('Enter');
  const f = await waitFor('chat.send to leave the page', async () => frames.slice(before).find((x) => x.dir === 'out' && x.msg?.type === 'chat.send' && x.msg?.content === content), 15_000);
  return { sessionId: f.msg.sessionId, sentAt: Math.min(sentAt, f.t), prefix: content.slice(0, 40), runId: null, load: `${f.load}:` };
}

async function waitRunEnd(page, run, endedDuringReload = false) {
  if (!endedDuringReload) await waitFor('this run\'s complete frame', async () => currentCompletes(run).length > 0, RUN_TIMEOUT_MS, 150);
  await waitFor('the server to list the run as finished', async () => (await runningOnServer(run.sessionId)) !== true, 15_000, 200);
  await waitFor('the UI to leave the running state', async () => !(await isBusy(page)), 15_000, 150);
  await sleep(1500); // late frames, the client's 100 ms stream flush and its history refresh
}

// ---------------------------------------------------------------- main
const results = { base: BASE, seed: SEED0, chat: null, abort: null, reloads: [], shell: null, errors: [] };
const watchdog = setTimeout(() => { console.error('uiCheck: total timeout'); process.exit(2); }, TOTAL_TIMEOUT_MS);

let browser;
let exitCode = 0;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: !process.env.HEADFUL, args: ['--no-sandbox', ...(process.env.HEADFUL ? [] : ['--headless=new'])] });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.exposeBinding('__uiCheckFrame', (_source, rec) => onFrame(rec));
  await context.addInitScript(HOOK);
  const page = await context.newPage();
  page.on('pageerror', (e) => results.errors.push(`pageerror: ${String(e.message).slice(0, 200)}`));

  log('login at', BASE);
  await login(page);
  const project = await openProjectAndPickCursor(page);
  log('project', project.displayName, '- provider Cursor');
  const knownPrefixes = [];

  // 1. A plain chat: 10 chunks, shown once.
  {
    const content = `hello uicheck ${tag()}`;
    knownPrefixes.push(content.slice(0, 40));
    const run = await send(page, content);
    log('chat session', run.sessionId);
    let ok = true, note = '';
    try {
      await waitRunEnd(page, run);
      await waitFor('the reply to be rendered', async () => (await chatText(page)).includes(`chunk 10/10 (echo: ${run.prefix})`), 10_000);
    } catch (e) { ok = false; note = e.message; }
    const text = analyseText(await chatText(page), run.prefix, 10, knownPrefixes);
    const fr = analyseFrames(run);
    if (text.missing || text.garbled || fr.completesCurrent !== 1 || fr.completesOther || fr.duplicates) ok = false;
    results.chat = { ok, note, ...text, ...fr, subscribes: subscribesSince(run) };
    results.sessionId = run.sessionId;
    if (!ok) await shot(page, 'chat');
    log('chat', ok ? 'ok' : `FAILED ${note}`, JSON.stringify(results.chat));
  }

  // 2. Abort with the Stop button.
  {
    const content = `slowly abort ${tag()}`;
    knownPrefixes.push(content.slice(0, 40));
    const run = await send(page, content);
    let ok = true, note = '';
    try {
      await waitFor('a few streamed chunks', async () => sessionFrames(run.sessionId, run.sentAt).filter((f) => f.msg.kind === 'stream_delta' && classify(f, run) === 'current').length >= 3, 20_000);
      await stopButton(page).click({ timeout: 5_000 });
      await waitFor('the aborted complete', async () => currentCompletes(run).some((f) => f.msg.aborted === true), 20_000);
      await waitFor('the UI to leave the running state', async () => !(await isBusy(page)), 10_000);
      await waitFor('the server to list the run as finished', async () => (await runningOnServer(run.sessionId)) !== true, 15_000, 200);
      await sleep(2000); // a runtime complete arriving after the abort would show here
    } catch (e) { ok = false; note = e.message; }
    const fr = analyseFrames(run);
    const text = analyseText(await chatText(page), run.prefix, 30, knownPrefixes);
    const lastChunk = text.missing === 0;
    if (fr.completesCurrent !== 1 || fr.completesOther || fr.duplicates) ok = false;
    if (lastChunk) { ok = false; note = (note ? note + '; ' : '') + 'all 30 chunks rendered: the run was not stopped'; }
    results.abort = { ok, note, ...fr, chunksRendered: 30 - text.missing, subscribes: subscribesSince(run) };
    if (!ok) await shot(page, 'abort');
    log('abort', ok ? 'ok' : `FAILED ${note}`, JSON.stringify(results.abort));
  }

  // 3. Reloads mid-stream.
  for (let i = 1; i <= RELOADS; i++) {
    const content = `slowly r${i} ${tag()}`;
    knownPrefixes.push(content.slice(0, 40));
    const row = { i, delayMs: 0, ok: true, note: '' };
    try {
      await waitFor('an idle composer', async () => !(await isBusy(page)), 15_000);
      const run = await send(page, content);
      row.delayMs = 1000 + Math.floor(rand() * 2000);
      await sleep(row.delayMs);
      const doneBeforeReload = currentCompletes(run).length > 0;
      row.run = run;
      row.doneBeforeReload = doneBeforeReload;
      const reloadedAt = Date.now();
      await page.reload({ waitUntil: 'domcontentloaded', timeout: 30_000 });
      await page.waitForSelector('textarea:visible', { timeout: 30_000 });
      // Until this run's complete reaches the page: is the UI showing the run as running while the
      // server still runs it and the new page already streams it? And did it end during the reload?
      let idleSamples = 0;
      const end = await waitFor('this run\'s complete frame, or its end during the reload', async () => {
        if (currentCompletes(run).length > 0) return 'complete';
        const onServer = await runningOnServer(run.sessionId);
        // Only sockets the reloaded page opened: the old page keeps receiving until it unloads.
        const fresh = frames.filter((f) => f.t >= reloadedAt && f.dir === 'in' && f.msg?.sessionId === run.sessionId && !f.sock.startsWith(run.load));
        const ack = fresh.find((f) => f.msg.kind === 'chat_subscribed');
        const live = fresh.some((f) => typeof f.msg.seq === 'number' && classify(f, run) === 'current');
        if (onServer === true && live && !(await isBusy(page))) idleSamples++;
        if (onServer !== true && ack && !ack.msg.isProcessing && !live) return 'ended-during-reload';
        return null;
      }, RUN_TIMEOUT_MS, 150);
      row.endedDuringReload = end === 'ended-during-reload';
      row.idleWhileRunning = idleSamples >= 3;
      await waitRunEnd(page, run, row.endedDuringReload);
    } catch (e) { row.ok = false; row.note = e.message; }
    if (row.run) {
      const run = row.run;
      delete row.run;
      const text = analyseText(await chatText(page).catch(() => ''), run.prefix, 30, knownPrefixes);
      const fr = analyseFrames(run);
      Object.assign(row, text, fr, { runId: run.runId, subscribes: subscribesSince(run) });
      // A run that ended while the page reloaded is not replayed (neither server replays a finished run
      // to lastSeq 0) and the fake agent writes no transcript, so its reply is legitimately absent.
      const expectCompletes = row.endedDuringReload ? 0 : 1;
      const missingBad = row.endedDuringReload ? 0 : text.missing;
      if (text.garbled || missingBad || fr.other || fr.duplicates || fr.completesCurrent !== expectCompletes || fr.completesOther || row.idleWhileRunning) row.ok = false;
    }
    if (!row.ok) await shot(page, `reload-${i}`);
    results.reloads.push(row);
    log(`reload ${i}/${RELOADS}`, row.ok ? 'ok' : `FAILED ${row.note}`, `completes=${row.completesCurrent ?? '?'}+${row.completesOther ?? '?'} other=${row.other ?? '?'} dup=${row.duplicates ?? '?'} garbled=${row.garbled ?? '?'}`);
  }

  // 4. The Shell tab.
  {
    let ok = true, note = '';
    try {
      await page.getByRole('button', { name: 'Shell', exact: true }).first().click({ timeout: 10_000 }).catch(async () => page.getByText('Shell', { exact: true }).first().click({ timeout: 10_000 }));
      await waitFor('a prompt on /shell', async () => /[$#] ?$/m.test(shellText.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').trimEnd()), 20_000);
      const word = `uicheck-${tag()}`;
      // xterm.js takes keys through its hidden helper textarea; focus it (a click can be intercepted).
      const helper = page.locator('.xterm-helper-textarea').first();
      if (await helper.count()) await helper.focus({ timeout: 5_000 });
      else await page.locator('.xterm').first().click({ timeout: 5_000, force: true });
      await page.keyboard.type(`echo ${word}`, { delay: 10 });
      await page.keyboard.press('Enter');
      await waitFor('the echo to come back', async () => shellText.split(word).length >= 3, 10_000);
    } catch (e) { ok = false; note = e.message; }
    results.shell = { ok, note, tail: shellText.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').slice(-120) };
    if (!ok) await shot(page, 'shell');
    log('shell', ok ? 'ok' : `FAILED ${note}`);
  }
  await context.close();
} catch (e) {
  results.errors.push(String(e?.stack || e).slice(0, 500));
  exitCode = 2;
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
}

// ---------------------------------------------------------------- summary
const R = results.reloads;
const sum = (k) => R.reduce((a, r) => a + (Number(r[k]) || 0), 0);
const summary = {
  reloadsTried: R.length,
  garbled: R.filter((r) => r.garbled).length,
  missingText: R.filter((r) => r.missing && !r.endedDuringReload).length,
  replayedOtherRun: R.filter((r) => r.other > 0).length,
  otherRunFrames: sum('other'),
  duplicateFrames: sum('duplicates'),
  completesPerRun: R.map((r) => `${r.completesCurrent ?? '?'}${r.completesOther ? `+${r.completesOther}` : ''}`).join(' '),
  runsWithOneComplete: R.filter((r) => r.completesCurrent === 1 && !r.completesOther).length,
  endedDuringReload: R.filter((r) => r.endedDuringReload).length,
  idleWhileRunning: R.filter((r) => r.idleWhileRunning).length,
};
results.summary = summary;
console.log('\nper reload (completes: this run + other runs\' completes the page received; subscribes: lastSeq sent, ack P=processing -=idle)');
console.log('  #  delay  ok   endedInReload  idleWhileRunning  completes  otherRunFrames  dupFrames  garbled  dupChunks  missing  foreign  sockets  subscribes(lastSeq+ack)');
for (const r of R) {
  console.log(`${String(r.i).padStart(3)}  ${String(r.delayMs).padStart(5)}  ${r.ok ? 'yes' : 'NO '}  ${String(r.endedDuringReload ?? '?').padStart(13)}  ${String(r.idleWhileRunning ?? '?').padStart(16)}  ${String(`${r.completesCurrent ?? '?'}+${r.completesOther ?? '?'}`).padStart(9)}  ${String(r.other ?? '?').padStart(14)}  ${String(r.duplicates ?? '?').padStart(9)}  ${String(r.garbled ?? '?').padStart(7)}  ${String(r.dup ?? '?').padStart(9)}  ${String(r.missing ?? '?').padStart(7)}  ${String(r.foreign ?? '?').padStart(7)}  ${String(r.sockets ?? '?').padStart(7)}  ${r.subscribes ?? ''}${r.note ? '  ' + r.note : ''}`);
}
console.log('\nsummary');
const table = [
  ['server', BASE],
  ['chat (reply shown once)', results.chat ? (results.chat.ok ? 'ok' : `FAILED ${results.chat.note}`) : 'not run'],
  ['abort (Stop button)', results.abort ? (results.abort.ok ? `ok (${results.abort.chunksRendered}/30 chunks, ${results.abort.completesCurrent} complete)` : `FAILED ${results.abort.note} completes=${results.abort.completesCurrent}+${results.abort.completesOther}`) : 'not run'],
  ['reloads tried', summary.reloadsTried],
  ['garbled (text twice/interleaved)', summary.garbled],
  ['reply incomplete after reload', summary.missingText],
  ['replayed-other-run (reloads)', `${summary.replayedOtherRun} (${summary.otherRunFrames} frames)`],
  ['duplicate frames (same seq, same socket)', summary.duplicateFrames],
  ['completes per run', summary.completesPerRun || '-'],
  ['runs with exactly one complete', `${summary.runsWithOneComplete}/${summary.reloadsTried - summary.endedDuringReload} (+${summary.endedDuringReload} ended during the reload)`],
  ['UI idle while the run still streamed', summary.idleWhileRunning],
  ['shell prompt + echo', results.shell ? (results.shell.ok ? 'ok' : `FAILED ${results.shell.note}`) : 'not run'],
  ['seed', SEED0],
];
for (const [k, v] of table) console.log(`  ${k.padEnd(42)} ${v}`);
if (results.errors.length) console.log('\nerrors:\n  ' + results.errors.join('\n  '));
if (process.env.DUMP_FRAMES) fs.writeFileSync(process.env.DUMP_FRAMES, frames.map((f) => JSON.stringify(f)).join('\n') + '\n');
if (process.env.SUMMARY_JSON) fs.writeFileSync(process.env.SUMMARY_JSON, JSON.stringify(results, null, 2));

const failed = !results.chat?.ok || !results.abort?.ok || !results.shell?.ok || R.some((r) => !r.ok);
if (exitCode === 0 && failed) exitCode = 1;
console.log(exitCode === 0 ? '\nuiCheck: PASS' : `\nuiCheck: FAIL (exit ${exitCode})`);
process.exit(exitCode);
