/**
 * Debian's Chromium driven by playwright-core, for the playground's browser tests. Never a
 * downloaded browser: when /usr/bin/chromium is missing the tests fail with the install command
 * (they do not skip). Each launch gets a fresh, empty user-data-dir, removed on close.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

import { startCli, type CliChild } from '../support/cliProcess.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * The flags env's node notes give. Without the background-networking ones Chromium keeps
 * dialling Google's hosts, which this machine's closed network refuses. `--headless` comes from
 * `headless: true`.
 */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const SCREENSHOT_DIR = fileURLToPath(new URL('./screenshots/', import.meta.url));

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}. The browser tests need Debian's package: ` +
        '`apt-get update && apt-get install -y chromium` (.ci/run does this; set CHROMIUM_PATH for another binary).',
    );
  }
  const userDataDir = mkdtempSync(join(tmpdir(), 'ag-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1440, height: 1000 },
      timeout: 30_000,
    });
  } catch (error) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** The real CLI (as `npm start` runs it) on a free port with its own data dir. */
export interface TestGateway {
  cli: CliChild;
  /** The "playground:" URL the CLI printed. */
  playgroundUrl: string;
  dataDir: string;
  close(): Promise<void>;
}

export async function startGateway(args: string[] = []): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-e2e-'));
  const cli = await startCli(['--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...args]);
  const printed = await waitForOutput(cli, /playground: (http:\/\/\S+)/);
  return {
    cli,
    playgroundUrl: printed[1],
    dataDir,
    async close() {
      if (cli.child.exitCode === null) {
        cli.child.kill('SIGTERM');
        const timer = setTimeout(() => cli.child.kill('SIGKILL'), 10_000);
        await cli.exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function waitForOutput(cli: CliChild, pattern: RegExp, timeoutMs = 5000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = cli.output().match(pattern);
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`CLI output never matched ${pattern}:\n${cli.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const slug = (text: string) => text.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();

/**
 * Runs one step of a test; when it throws, every open page is saved to
 * spec/e2e/screenshots/<test>--<step>--<n>.png and the error names the files.
 */
export async function step<T>(context: BrowserContext, testName: string, stepName: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const saved: string[] = [];
    for (const [index, page] of context.pages().entries()) {
      if (page.url() === 'about:blank') continue;
      const path = join(SCREENSHOT_DIR, `${slug(testName)}--${slug(stepName)}--${index}.png`);
      try {
        await page.screenshot({ path, fullPage: true, timeout: 5000 });
        saved.push(path);
      } catch {
        // A crashed or closed page has nothing to show.
      }
    }
    const message = error instanceof Error ? error.message : String(error);
    const wrapped = new Error(`step "${stepName}" failed: ${message}${saved.length ? `\nscreenshots: ${saved.join(', ')}` : ''}`);
    if (error instanceof Error) wrapped.stack = `${wrapped.message}\n${error.stack ?? ''}`;
    throw wrapped;
  }
}

/** What a page shows as its applied frames (one row per seq, REST history included; duplicates are logged apart). */
export async function appliedSeqs(page: Page): Promise<number[]> {
  return page.$$eval('.frame-log li[data-origin="history"], .frame-log li[data-origin="live"], .frame-log li[data-origin="replay"]', (rows) =>
    rows.map((row) => Number(row.getAttribute('data-seq'))),
  );
}

/** The seqs carried by transcript elements (every sequenced frame is drawn with its seq). */
export async function transcriptSeqs(page: Page): Promise<number[]> {
  return page.$$eval('.transcript [data-seq]', (nodes) => nodes.map((node) => Number(node.getAttribute('data-seq'))));
}

export async function stat(page: Page, name: 'last-seq' | 'history' | 'live' | 'replayed' | 'duplicates' | 'gap' | 'acks'): Promise<string> {
  return (await page.textContent(`#stat-${name}`)) ?? '';
}

/**
 * Polls until `check` answers something truthy (bounded: the error says what never happened).
 * Page state is read from Node through Playwright, so no DOM types are needed here.
 */
export async function until<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Creates a session with the page's "New session" form and waits until the page shows it. The
 * id comes from the POST's answer, not from "the title changed": a page just opened may still be
 * restoring its last session, and that one must not be taken for the new one.
 */
export async function createSession(page: Page): Promise<string> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/providers/sessions'),
    page.click('#new-session button[type=submit]'),
  ]);
  const { sessionId } = (await response.json()) as { sessionId: string };
  await until('the new session to be shown', async () => (await page.getAttribute('#chat-title', 'title')) === sessionId);
  return sessionId;
}

/** The visible text of the active terminal (xterm's DOM renderer draws one row per line). */
export async function terminalText(page: Page): Promise<string> {
  const rows = page.locator('.shell-view:not([hidden]) .xterm-rows');
  if ((await rows.count()) === 0) return '';
  // xterm draws spaces as no-break spaces; lines end where their text does.
  const text = await rows.innerText();
  return text
    .replace(/\u00a0/g, ' ')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .trim();
}

/** 1..n, for comparing seq lists. */
export const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
