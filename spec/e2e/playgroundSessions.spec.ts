/**
 * The playground's sessions, history and refusals, in real Chromium against the real CLI:
 * a reload shows the whole conversation from REST history with nothing twice and the next run
 * goes on live; the stored-sessions list deletes (never a running one); "Open" refuses a made-up
 * id; a path outside the workspace is refused with its code, and a refused shell is not shown as
 * attached; a reloaded terminal has its size before Reattach; a wrong token stops every socket.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';

import { appliedSeqs, createSession, launchBrowser, oneTo, startGateway, stat, step, transcriptSeqs, until, type TestBrowser, type TestGateway } from './browser.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'ag-e2e-sessions-')));
const workspace = join(base, 'workspace');
const outside = join(base, 'outside');
mkdirSync(workspace);
mkdirSync(outside);

let started: Promise<{ gateway: TestGateway; browser: TestBrowser }> | null = null;
function setup() {
  started ??= (async () => {
    // The browser first: without Chromium the test fails at once, with the install command.
    const browser = await launchBrowser();
    try {
      return { gateway: await startGateway(['--demo-pace-ms', '0', '--workspace-root', workspace]), browser };
    } catch (error) {
      await browser.close();
      throw error;
    }
  })();
  return started;
}

test.after(async () => {
  const ready = await started?.catch(() => null);
  await ready?.browser.close();
  await ready?.gateway.close();
  rmSync(base, { recursive: true, force: true });
});

interface OpenPage {
  page: Page;
  errors: string[];
}

async function openPlayground(browser: TestBrowser, url: string): Promise<OpenPage> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
  await until('the chat socket to open', async () => (await page.getAttribute('#chat-status', 'data-state')) === 'open');
  return { page, errors };
}

async function runToEnd(page: Page, prompt: string): Promise<void> {
  const before = await page.locator('.event.complete').count();
  await page.fill('#prompt', prompt);
  await page.click('#send');
  await until('the run to complete', async () => (await page.locator('.event.complete').count()) === before + 1, 20_000);
}

async function rest(gateway: TestGateway, path: string, method = 'GET'): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${gateway.cli.url}${path}`, { method, headers: { authorization: `Bearer ${gateway.cli.token}` } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const sessionRows = (page: Page) => page.$$eval('#sessions-list li[data-session-id]', (rows) => rows.map((row) => row.getAttribute('data-session-id')));

test('a reload shows the whole conversation from history, nothing twice, and the next run goes on live', async () => {
  const { gateway, browser } = await setup();
  const name = 'history reload';
  const { page, errors } = await openPlayground(browser, gateway.playgroundUrl);
  const sessionId = await createSession(page);
  const lastSeq = await step(browser.context, name, 'two runs', async () => {
    await runToEnd(page, 'first question /no-tool');
    await runToEnd(page, 'second question /no-tool');
    return Number(await stat(page, 'last-seq'));
  });

  await step(browser.context, name, 'reload: every seq once, from history', async () => {
    await page.reload();
    await until('the session to reopen', async () => (await page.getAttribute('#chat-title', 'title')) === sessionId);
    await until('the history to be drawn', async () => (await stat(page, 'history')) === String(lastSeq));
    await until('the subscribe ack', async () => (await stat(page, 'acks')) === '1');
    assert.equal(await appliedSeqs(page), oneTo(lastSeq), 'the frame log holds every seq once');
    assert.is(await page.locator('.frame-log li[data-origin="history"]').count(), lastSeq);
    const drawn = await transcriptSeqs(page);
    assert.equal([...new Set(drawn)].sort((a, b) => a - b), oneTo(lastSeq), 'every seq is drawn');
    assert.is(new Set(drawn).size, drawn.length, 'none twice');
    assert.is(await page.locator('.event.complete').count(), 2, 'both runs are there');
    assert.is(await stat(page, 'replayed'), '0', 'the subscribe asked only for what follows the history');
    assert.is(await stat(page, 'duplicates'), '0');
    assert.ok(await page.isHidden('#unseen-notice'), 'nothing is missing');
    const history = (await rest(gateway, `/api/providers/sessions/${sessionId}/messages`)).body as { messages: Array<{ kind: string; role?: string }> };
    const prompts = history.messages.filter((m) => m.kind === 'text' && m.role === 'user').length;
    assert.is(await page.locator('.event.user').count(), prompts, "the user's own prompts are drawn as the user's messages");
  });

  await step(browser.context, name, 'the next run continues after the history, live', async () => {
    await runToEnd(page, 'third question /no-tool');
    const now = Number(await stat(page, 'last-seq'));
    assert.ok(now > lastSeq);
    assert.equal(await appliedSeqs(page), oneTo(now));
    assert.is(Number(await stat(page, 'live')), now - lastSeq, 'the rest arrived live');
    // A coloured left border on a rounded corner draws a "(": the rows' left corners are square.
    const radius = await page.$eval('.transcript .event:not(.user)', (node) => getComputedStyle(node).borderTopLeftRadius);
    assert.is(radius, '0px');
    assert.equal(errors, []);
  });
  await page.close();
});

test('the user prompt frame is drawn as the user message (ChatView, scripted)', async () => {
  const { gateway, browser } = await setup();
  const page = await browser.context.newPage();
  await page.goto(new URL('/style.css', gateway.playgroundUrl).href);
  const classes = await page.evaluate<string[]>(`(async () => {
    const { ChatView } = await import('/chatView.js');
    const view = new ChatView('s1', () => true);
    view.render({ kind: 'text', role: 'user', content: 'hello agent', seq: 1, runId: 'r1' }, 'history');
    view.render({ kind: 'text', role: 'assistant', content: 'hello human', seq: 2, runId: 'r1' }, 'live');
    return [...view.transcript.children].map((node) => node.className + ' | ' + node.textContent);
  })()`);
  assert.equal(classes, ['event user from-history | hello agent', 'event text | hello human']);
  await page.close();
});

test('the stored sessions: newest first; delete removes one (and its open view); a running one cannot be deleted', async () => {
  const { gateway, browser } = await setup();
  const name = 'session list';
  const { page, errors } = await openPlayground(browser, gateway.playgroundUrl);
  const older = await createSession(page);
  const newer = await createSession(page);

  await step(browser.context, name, 'listed newest first', async () => {
    await until('both sessions listed', async () => {
      const rows = await sessionRows(page);
      return rows.indexOf(newer) === 0 && rows.indexOf(older) === 1;
    });
  });

  await step(browser.context, name, 'a running session cannot be deleted', async () => {
    await page.fill('#prompt', 'list the files');
    await page.click('#send');
    await page.locator('.permission:not(.settled)').waitFor({ timeout: 15_000 });
    await until('the row to show it running', () => page.locator(`#sessions-list li[data-session-id="${newer}"][data-running="true"]`).count());
    assert.ok(await page.isDisabled(`#sessions-list li[data-session-id="${newer}"] button.delete`));
  });

  await step(browser.context, name, 'delete another one', async () => {
    await page.click(`#sessions-list li[data-session-id="${older}"] button.delete`);
    await until('the row to go', async () => !(await sessionRows(page)).includes(older));
    assert.is((await rest(gateway, `/api/providers/sessions/${older}`)).status, 404);
    assert.is(await page.getAttribute('#chat-title', 'title'), newer, 'the open session is untouched');
  });

  await step(browser.context, name, 'once finished, delete the open one', async () => {
    await page.locator('.permission:not(.settled) button.approve').click();
    await page.locator('.event.complete').waitFor({ timeout: 15_000 });
    await until('the row to show it idle', () => page.locator(`#sessions-list li[data-session-id="${newer}"][data-running="false"]`).count());
    await page.click(`#sessions-list li[data-session-id="${newer}"] button.delete`);
    await until('the view to empty', async () => (await page.textContent('#chat-title')) === 'No session yet');
    assert.not.ok((await sessionRows(page)).includes(newer));
    assert.is((await rest(gateway, `/api/providers/sessions/${newer}`)).status, 404);
    assert.is((await rest(gateway, `/api/providers/sessions/${newer}/messages`)).status, 404, 'its history went with it');
    assert.not.ok(page.url().includes(newer), 'not in the address bar any more');
    assert.equal(errors, []);
  });
  await page.close();
});

test('"Open" refuses a made-up session id, and it never shows as a live actor', async () => {
  const { gateway, browser } = await setup();
  const { page, errors } = await openPlayground(browser, gateway.playgroundUrl);
  const title = await page.getAttribute('#chat-title', 'title');
  await page.fill('#open-id', 'made-up-session-id');
  await page.click('#open-session button[type=submit]');
  await until('the refusal', async () => ((await page.textContent('#banner')) ?? '').includes('No session "made-up-session-id"'));
  assert.is(await page.getAttribute('#chat-title', 'title'), title, 'nothing was opened');
  assert.is(await page.inputValue('#open-id'), 'made-up-session-id', 'the id stays to be corrected');
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.is(await page.locator('#chat-actors tr[data-session-id="made-up-session-id"]').count(), 0);
  assert.equal(errors, []);
  await page.close();
});

test('a path outside the workspace is refused with its code; a refused shell is failed, not attached', async () => {
  const { gateway, browser } = await setup();
  const name = 'workspace refusal';
  const { page, errors } = await openPlayground(browser, gateway.playgroundUrl);
  assert.is(await page.textContent('#workspace-roots'), workspace, 'the page shows the workspace');
  assert.is(await page.inputValue('#session-path'), workspace, 'and offers it');

  await step(browser.context, name, 'a session outside', async () => {
    await page.fill('#session-path', outside);
    await page.click('#new-session button[type=submit]');
    await until('the refusal', async () => ((await page.textContent('#banner')) ?? '').includes('PROJECT_PATH_OUTSIDE_WORKSPACE'));
    assert.match((await page.textContent('#banner')) ?? '', /outside every workspace root/);
  });

  await step(browser.context, name, 'a shell outside', async () => {
    let shellSockets = 0;
    page.on('websocket', (socket) => {
      if (socket.url().includes('/shell')) shellSockets++;
    });
    await page.fill('#shell-path', outside);
    await page.fill('#shell-name', 'refused-shell');
    await page.fill('#shell-command', 'bash --norc --noprofile');
    await page.click('#new-shell button[type=submit]');
    const view = page.locator('.shell-view[data-shell="refused-shell"]');
    await until('the shell to fail', async () => (await view.locator('.shell-state').getAttribute('data-state')) === 'failed');
    assert.match((await view.locator('.shell-state').textContent()) ?? '', /outside every workspace root \(PROJECT_PATH_OUTSIDE_WORKSPACE\)/);
    assert.is(await page.getAttribute('.shell-tab[data-shell="refused-shell"] .dot', 'data-state'), 'failed', 'no green dot');
    assert.ok(await view.locator('button.detach').isDisabled(), 'nothing to detach');
    assert.is(await view.locator('button.reattach').textContent(), 'Retry');
    // The backoff's first retries would have come within this time.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.is(shellSockets, 1, 'no reconnect loop');
    assert.equal(errors, []);
  });
  await page.close();
});

test('after a reload a terminal keeps its size before Reattach, not a thin strip', async () => {
  const { gateway, browser } = await setup();
  const { page, errors } = await openPlayground(browser, gateway.playgroundUrl);
  await page.fill('#shell-path', workspace);
  await page.fill('#shell-name', 'sized-shell');
  await page.fill('#shell-command', 'bash --norc --noprofile');
  await page.click('#new-shell button[type=submit]');
  const host = () => page.locator('.shell-view[data-shell="sized-shell"] .terminal-host');
  await until('the shell to attach', async () => (await page.getAttribute('.shell-view[data-shell="sized-shell"] .shell-state', 'data-state')) === 'open');
  const attached = (await host().boundingBox())!.height;
  await page.reload();
  await page.click('.shell-tab[data-shell="sized-shell"]');
  await until('the tab to show, not attached', async () => (await page.getAttribute('.shell-view[data-shell="sized-shell"] .shell-state', 'data-state')) === 'idle');
  const idle = (await host().boundingBox())!.height;
  assert.ok(attached > 200, `attached height ${attached}`);
  assert.is(idle, attached, 'the same size before Reattach');
  assert.equal(errors, []);
  await page.close();
});

test('a wrong token: the page says so and opens no socket at all', async () => {
  const { gateway, browser } = await setup();
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  let sockets = 0;
  page.on('websocket', () => sockets++);
  const url = new URL(gateway.playgroundUrl);
  url.searchParams.set('token', 'not-the-token');
  await page.goto(url.href);
  await until('the refusal', async () => ((await page.textContent('#banner')) ?? '').includes('refused the token'));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.is(sockets, 0, 'nothing keeps knocking');
  assert.not.ok((await page.getAttribute('#chat-status', 'data-state')) === 'open');
  assert.equal(errors, []);
  // The context is shared: put the right token back for whatever runs next.
  await page.goto(gateway.playgroundUrl);
  await page.close();
});

test.run();
