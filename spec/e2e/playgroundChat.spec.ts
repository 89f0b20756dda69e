/**
 * The playground's chat, in real Chromium against the real CLI: a run streams and completes
 * after a tool approval (and a denial), a run is aborted, two pages watch one session live, and
 * a dropped connection resumes with every frame exactly once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BrowserContext, Page } from 'playwright-core';

import { demoAnswerWords } from '../../gateway/app/demoAgent.js';
import { appliedSeqs, createSession, launchBrowser, oneTo, startGateway, stat, step, transcriptSeqs, until, type TestBrowser, type TestGateway } from './browser.js';

/** The CLI's default pace: about 20 words a second. */
const DEMO_PACE_MS = 50;

/**
 * The demo agent's answer is a deterministic function of the prompt: pick one that streams at
 * least `count` words, so a drop after the third word certainly falls inside the stream.
 */
function promptWithWords(stem: string, count: number): string {
  for (let i = 0; ; i++) {
    const prompt = `${stem} ${i}`;
    if (demoAnswerWords(prompt).length >= count) return prompt;
  }
}

let started: Promise<{ gateway: TestGateway; browser: TestBrowser }> | null = null;
function setup() {
  started ??= (async () => {
    // The browser first: without Chromium the test fails at once, with the install command.
    const browser = await launchBrowser();
    try {
      return { gateway: await startGateway(['--demo-pace-ms', String(DEMO_PACE_MS)]), browser };
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
});

interface OpenPage {
  page: Page;
  errors: string[];
}

function watch(page: Page): OpenPage {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return { page, errors };
}

async function openPlayground(context: BrowserContext, url: string): Promise<OpenPage> {
  const opened = watch(await context.newPage());
  await opened.page.goto(url);
  await until('the chat socket to open', async () => (await opened.page.getAttribute('#chat-status', 'data-state')) === 'open');
  return opened;
}

async function sendPrompt(page: Page, text: string): Promise<void> {
  await page.fill('#prompt', text);
  await page.click('#send');
}

const words = (page: Page) => page.locator('.transcript .word').count();
const waitForWords = (page: Page, n: number) => until(`${n} streamed words`, async () => (await words(page)) >= n);
const openCard = (page: Page) => page.locator('.permission:not(.settled)');

async function seqsAreComplete(page: Page, label: string): Promise<number> {
  const lastSeq = Number(await stat(page, 'last-seq'));
  assert.ok(lastSeq > 0, `${label}: lastSeq shown`);
  assert.equal(await appliedSeqs(page), oneTo(lastSeq), `${label}: the frame log holds every seq once, in order`);
  const drawn = await transcriptSeqs(page);
  assert.equal([...new Set(drawn)].sort((a, b) => a - b), oneTo(lastSeq), `${label}: every seq is drawn`);
  assert.is(new Set(drawn).size, drawn.length, `${label}: no seq is drawn twice`);
  return lastSeq;
}

test('a prompt streams, the tool is approved (then denied on a second run), each run completes once', async () => {
  const { gateway, browser } = await setup();
  const name = 'chat approve';
  const { page, errors } = await step(browser.context, name, 'open the printed URL', async () => {
    const opened = await openPlayground(browser.context, gateway.playgroundUrl);
    assert.not.ok(opened.page.url().includes('token='), 'the token leaves the address bar');
    return opened;
  });
  const sessionId = await step(browser.context, name, 'create a session', () => createSession(page));

  await step(browser.context, name, 'stream until the permission request', async () => {
    await sendPrompt(page, 'show me the project files');
    await waitForWords(page, 5);
    assert.is(await page.textContent('#run-state'), 'running');
    await until('the actors panel to show the session running', () =>
      page.locator(`#chat-actors tr[data-session-id="${sessionId}"][data-state="running"]`).count(),
    );
    await openCard(page).waitFor({ timeout: 15_000 });
    assert.ok((await page.locator('.transcript .thinking').count()) === 1, 'thinking shown');
    assert.ok((await page.locator('.transcript .tool').count()) === 1, 'tool_use shown');
  });

  await step(browser.context, name, 'approve and complete', async () => {
    await openCard(page).locator('button.approve').click();
    await page.locator('.event.complete').waitFor({ timeout: 15_000 });
    assert.is(await page.textContent('.event.complete'), 'run complete: success');
    assert.is(await page.locator('.event.tool-result.error').count(), 0, 'the tool ran');
    assert.match((await page.textContent('.permission .card-state')) ?? '', /allowed/);
    await until('the badge to go idle', async () => (await page.textContent('#run-state')) === 'idle');
    await until('the actors panel to show the session idle', () =>
      page.locator(`#chat-actors tr[data-session-id="${sessionId}"][data-state="idle"]`).count(),
    );
    await seqsAreComplete(page, 'first run');
    assert.is(await stat(page, 'replayed'), '0', 'nothing was replayed on a steady connection');
  });

  await step(browser.context, name, 'deny on a second run', async () => {
    await sendPrompt(page, 'try again please');
    await openCard(page).waitFor({ timeout: 20_000 });
    await openCard(page).locator('button.deny').click();
    await until('the second complete', async () => (await page.locator('.event.complete').count()) === 2);
    assert.match((await page.locator('.event.tool-result.error').textContent()) ?? '', /Denied in the playground/);
    await seqsAreComplete(page, 'two runs');
    assert.equal(errors, [], 'no page errors');
  });
  await page.close();
});

test('Abort run stops a streaming run with one aborted complete', async () => {
  const { gateway, browser } = await setup();
  const name = 'chat abort';
  const { page, errors } = await openPlayground(browser.context, gateway.playgroundUrl);
  await step(browser.context, name, 'abort mid-stream', async () => {
    await createSession(page);
    await sendPrompt(page, 'write a long answer');
    await waitForWords(page, 3);
    await page.click('#abort');
    await page.locator('.event.complete.aborted').waitFor({ timeout: 15_000 });
    assert.is(await page.textContent('.event.complete'), 'run complete: aborted');
    await until('the badge to go idle', async () => (await page.textContent('#run-state')) === 'idle');
    assert.ok(await page.isDisabled('#abort'), 'nothing left to abort');
    assert.is(await openCard(page).count(), 0, 'no permission card left open');
    await seqsAreComplete(page, 'aborted run');
    assert.is(await page.locator('.event.complete').count(), 1);
    assert.equal(errors, []);
  });
  await page.close();
});

test('two pages on one session both stream live; an answer from either closes both cards', async () => {
  const { gateway, browser } = await setup();
  const name = 'chat two pages';
  const first = await openPlayground(browser.context, gateway.playgroundUrl);
  const a = first.page;
  const sessionId = await createSession(a);
  await step(browser.context, name, 'a first, finished run', async () => {
    await sendPrompt(a, 'warm up /no-tool');
    await a.locator('.event.complete').waitFor({ timeout: 15_000 });
  });
  // The second tab loads run 1 (complete included) and the start of run 2 over REST, then the rest live.
  await sendPrompt(a, 'tell both tabs a story');
  await until('the second run to stream', async () => (await a.locator('.transcript .answer').count()) === 2);

  const second = await step(browser.context, name, 'open the second tab from the link', async () => {
    const [page] = await Promise.all([browser.context.waitForEvent('page'), a.click('#open-tab')]);
    const opened = watch(page);
    await until('the second tab to subscribe', async () => (await page.getAttribute('#chat-title', 'title')) === sessionId);
    return opened;
  });
  const b = second.page;

  await step(browser.context, name, 'both see the permission request', async () => {
    await openCard(a).waitFor({ timeout: 15_000 });
    await openCard(b).waitFor({ timeout: 15_000 });
    await until('the actors panel to count two subscribers', async () => {
      const cells = await b.locator(`#chat-actors tr[data-session-id="${sessionId}"] td`).allTextContents();
      return cells[3] === '2';
    });
  });

  await step(browser.context, name, 'approve in the second tab, both complete', async () => {
    await openCard(b).locator('button.approve').click();
    await until('both runs complete in both tabs', async () =>
      (await a.locator('.event.complete').count()) === 2 && (await b.locator('.event.complete').count()) === 2,
    );
    await until('the first tab card to close', async () => (await openCard(a).count()) === 0);
    const lastA = await seqsAreComplete(a, 'first tab');
    const lastB = await seqsAreComplete(b, 'second tab');
    assert.is(lastB, lastA, 'both tabs end at the same seq');
    assert.ok(Number(await stat(b, 'history')) > 0, 'the second tab loaded run 1 and the start of run 2 as history (REST)');
    assert.ok(Number(await stat(b, 'live')) > 0, 'and the rest live');
    for (const page of [a, b]) {
      assert.equal(await page.locator('.event.complete').allTextContents(), ['run complete: success', 'run complete: success']);
    }
    assert.equal([...first.errors, ...second.errors], []);
  });
  await b.close();
  await a.close();
});

test('Drop connection: the page backs off, resubscribes with its lastSeq and loses no frame', async () => {
  const { gateway, browser } = await setup();
  const name = 'chat drop';
  const { page, errors } = await openPlayground(browser.context, gateway.playgroundUrl);
  await createSession(page);
  await sendPrompt(page, promptWithWords('stream while the network drops', 75));
  await waitForWords(page, 3);

  await step(browser.context, name, 'drop for 2 s and come back', async () => {
    await page.selectOption('#drop-ms', '2000');
    await page.click('#drop');
    await until('the simulated outage', async () => (await page.getAttribute('#chat-status', 'data-state')) === 'offline', 5000);
    await until('the reconnect', async () => (await page.getAttribute('#chat-status', 'data-state')) === 'open', 15_000);
    assert.match((await page.textContent('#chat-status')) ?? '', /reconnects: 1/);
  });

  await step(browser.context, name, 'the run goes on to its end', async () => {
    await openCard(page).waitFor({ timeout: 20_000 });
    await openCard(page).locator('button.approve').click();
    await page.locator('.event.complete').waitFor({ timeout: 15_000 });
  });

  await step(browser.context, name, 'every frame exactly once, the missed ones replayed', async () => {
    await seqsAreComplete(page, 'after the drop');
    assert.ok(Number(await stat(page, 'replayed')) > 0, 'frames sent during the outage came back as replays');
    assert.ok((await page.locator('.frame-log li[data-origin="replay"]').count()) > 0, 'the frame log marks them');
    assert.is(await stat(page, 'gap'), 'no');
    assert.is(await stat(page, 'acks'), '2', 'subscribed once, resubscribed once');
    assert.ok(await page.isHidden('#gap-notice'));
    assert.is(await page.locator('.event.complete').count(), 1);
    assert.equal(errors, []);
  });
  await page.close();
});

interface ClientRun {
  events: Array<[number, string]>;
  sent: unknown[];
  beforeHole: unknown;
  afterHole: { afterSeq: number } | null;
  gapAfterAck: unknown;
  stats: { history: number; live: number; replayed: number; duplicates: number };
  lastSeq: number;
}

test('the reference client (chatClient.js in Chromium): dedupe by seq, replay vs live, holes and gap acks, resubscribe with lastSeq', async () => {
  const { gateway, browser } = await setup();
  const page = await browser.context.newPage();
  await step(browser.context, 'chat client', 'drive the client with scripted frames', async () => {
    // Any page of the origin can import the module; the stylesheet runs no app code.
    await page.goto(new URL('/style.css', gateway.playgroundUrl).href);
    const run = await page.evaluate<ClientRun>(`(async () => {
      const { ChatClient } = await import('/chatClient.js');
      const events = [];
      const sent = [];
      const client = new ChatClient({
        url: () => 'ws://127.0.0.1:9/never',
        onEvent: (session, frame, origin) => events.push([frame.seq, origin]),
        onDuplicate: (session, frame) => events.push([frame.seq, 'duplicate']),
        onAck: () => {}, onGatewayFrame: () => {}, onSessionChange: () => {}, onStatus: () => {},
      });
      client.socket.send = (frame) => (sent.push(frame), true);
      const session = client.open('s1');
      const delta = (seq) => JSON.stringify({ kind: 'stream_delta', sessionId: 's1', seq, runId: 'r1', content: 'w ' });
      const ack = (lastSeq, gap) => JSON.stringify({ kind: 'chat_subscribed', sessionId: 's1', isProcessing: true, lastSeq, runId: 'r1', gap, oldestSeq: 1, pendingPermissions: [] });
      client.receive(ack(2, false));
      for (const seq of [1, 2, 2, 3]) client.receive(delta(seq));
      const beforeHole = session.gap;
      client.receive(delta(5));
      const afterHole = session.gap;
      session.gap = null;
      client.socket.options.onOpen();
      client.receive(ack(9, true));
      return { events, sent, beforeHole, afterHole, gapAfterAck: session.gap, stats: session.stats, lastSeq: session.lastSeq };
    })()`);
    assert.equal(run.events, [[1, 'replay'], [2, 'replay'], [2, 'duplicate'], [3, 'live'], [5, 'live']]);
    assert.equal(run.stats, { history: 0, live: 2, replayed: 2, duplicates: 1 });
    assert.is(run.lastSeq, 5);
    assert.is(run.beforeHole, null, 'no gap while seqs are contiguous');
    assert.is(run.afterHole?.afterSeq, 3, 'a hole in the seqs is a gap');
    assert.ok(run.gapAfterAck, 'an ack with gap: true is a gap');
    assert.equal(run.sent, [
      { type: 'chat.subscribe', sessions: [{ sessionId: 's1', lastSeq: 0 }] },
      { type: 'chat.subscribe', sessions: [{ sessionId: 's1', lastSeq: 5 }] },
    ]);
  });
  await page.close();
});

test.run();
