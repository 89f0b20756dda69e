/**
 * The playground's terminals, in real Chromium against the real CLI and real PTYs: a shell
 * echoes what is typed, survives a dropped connection, and after the page is closed and opened
 * again "Reattach" brings back the screen as it was.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';

import { launchBrowser, startGateway, step, terminalText, until, type TestBrowser, type TestGateway } from './browser.js';

/** No rc files: a user's .bashrc can take seconds (pyenv, nvm), and the prompt is then known. */
const FAST_SHELL = 'bash --norc --noprofile';
const PROMPT = /^bash-[\d.]+[#$]/m;
const NAME = 'e2e-shell';

let started: Promise<{ gateway: TestGateway; browser: TestBrowser }> | null = null;
function setup() {
  started ??= (async () => {
    // The browser first: without Chromium the test fails at once, with the install command.
    const browser = await launchBrowser();
    try {
      return { gateway: await startGateway(['--workspace-root', projectDir]), browser };
    } catch (error) {
      await browser.close();
      throw error;
    }
  })();
  return started;
}

const projectDir = mkdtempSync(join(tmpdir(), 'ag-e2e-project-'));

test.after(async () => {
  const ready = await started?.catch(() => null);
  await ready?.browser.close();
  await ready?.gateway.close();
  rmSync(projectDir, { recursive: true, force: true });
});

const screenHas = (page: Page, text: string | RegExp, timeoutMs = 10_000) =>
  until(`the terminal to show ${String(text)}`, async () => {
    const screen = await terminalText(page);
    return typeof text === 'string' ? screen.includes(text) : text.test(screen);
  }, timeoutMs);

const shellState = (page: Page) => page.getAttribute('.shell-view:not([hidden]) .shell-state', 'data-state');

async function typeLine(page: Page, line: string): Promise<void> {
  await page.locator('.shell-view:not([hidden]) .terminal-host').click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

const actorRow = (page: Page, state: string) => page.locator(`#shell-actors tr[data-shell="${NAME}"][data-state="${state}"]`);

test('a shell echoes, survives a dropped connection, and Reattach restores its screen in a new page', async () => {
  const { gateway, browser } = await setup();
  const name = 'shell';
  const errors: string[] = [];
  const first = await browser.context.newPage();
  first.on('pageerror', (error) => errors.push(error.message));

  await step(browser.context, name, 'open a shell and echo', async () => {
    await first.goto(gateway.playgroundUrl);
    await first.fill('#shell-path', projectDir);
    await first.fill('#shell-name', NAME);
    await first.fill('#shell-command', FAST_SHELL);
    await first.click('#new-shell button[type=submit]');
    await screenHas(first, `Starting terminal in: ${projectDir}`);
    await screenHas(first, PROMPT);
    await typeLine(first, 'echo e2e-$((6*7))');
    await screenHas(first, /^e2e-42$/m);
    assert.is(await shellState(first), 'open');
    await until('the actors panel to show the PTY running', () => actorRow(first, 'running').count());
    const cells = await actorRow(first, 'running').locator('td').allTextContents();
    assert.is(cells[2], '1', 'one viewer');
    assert.match(cells[3], /^\d+$/, 'a pid');
  });

  await step(browser.context, name, 'drop the connection and keep typing', async () => {
    await first.selectOption('#drop-ms', '500');
    await first.click('#drop');
    await until('the shell to reconnect', async () => (await shellState(first)) === 'open' && (await first.getAttribute('#chat-status', 'data-state')) === 'open');
    await screenHas(first, /^e2e-42$/m);
    await typeLine(first, 'echo after-drop-$((1+1))');
    await screenHas(first, /^after-drop-2$/m);
  });

  await step(browser.context, name, 'close the page: the PTY stays, detached', async () => {
    await first.close();
  });

  const second = await browser.context.newPage();
  second.on('pageerror', (error) => errors.push(error.message));
  await step(browser.context, name, 'a new page lists the shell, not attached', async () => {
    await second.goto(new URL('/', gateway.playgroundUrl).href);
    await second.locator(`.shell-tab[data-shell="${NAME}"]`).waitFor();
    assert.is(await shellState(second), 'idle');
    await until('the actors panel to show the PTY detached', () => actorRow(second, 'detached').count());
    assert.is(await terminalText(second), '', 'nothing on screen before reattaching');
  });

  await step(browser.context, name, 'Reattach restores the screen', async () => {
    await second.click('.shell-view:not([hidden]) button.reattach');
    await screenHas(second, /^e2e-42$/m);
    await screenHas(second, /^after-drop-2$/m);
    const screen = await terminalText(second);
    assert.ok(screen.includes('echo e2e-$((6*7))'), 'the typed command is on the restored screen');
    assert.is(await shellState(second), 'open');
    await typeLine(second, 'echo reattached-$((3*3))');
    await screenHas(second, /^reattached-9$/m);
    await until('the actors panel to show one viewer again', async () => {
      const cells = await actorRow(second, 'running').locator('td').allTextContents();
      return cells[2] === '1';
    });
  });

  await step(browser.context, name, 'Detach leaves the PTY running for later', async () => {
    await second.click('.shell-view:not([hidden]) button.detach');
    assert.is(await shellState(second), 'stopped');
    await until('the actors panel to show the PTY detached', () => actorRow(second, 'detached').count());
    assert.equal(errors, [], 'no page errors');
  });
  await second.close();
});

test.run();
