/**
 * GET /api/providers/sessions/:id/messages over the real CLI, real sockets and a real SQLite file:
 * the history is exactly the frames a socket saw, in seq order, paged without a hole or a repeat;
 * a client that subscribes with the last seq it loaded gets nothing twice; it survives a restart.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, type Frame, type TestClient } from './support/chatHarness.js';
import { restartableCli } from './support/restartableCli.js';

const cli = restartableCli('ag-history-', 'history-spec-token');
const { token: TOKEN } = cli;
const start = () => cli.start();
const stop = () => cli.stop();

test.after(() => cli.cleanup());

const { auth } = cli;

interface HistoryPage {
  messages: Frame[];
  hasMore: boolean;
  oldestSeq: number;
  latestSeq: number;
}

async function history(base: string, sessionId: string, query = ''): Promise<{ status: number; body: HistoryPage }> {
  const res = await fetch(`${base}/api/providers/sessions/${encodeURIComponent(sessionId)}/messages${query}`, { headers: auth });
  return { status: res.status, body: (await res.json()) as HistoryPage };
}

/** One demo run to its end (no tool), as a client sees it. */
async function runToEnd(client: TestClient, sessionId: string, prompt: string): Promise<void> {
  const from = client.frames.length;
  client.send({ type: 'chat.send', sessionId, content: `${prompt} /no-tool` });
  await client.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 15_000, from);
}

const sequenced = (client: TestClient, sessionId: string) => client.frames.filter((f) => typeof f.seq === 'number' && f.sessionId === sessionId);

let sessionId = '';
let seen: Frame[] = [];

test('the history is the frames the socket saw, in seq order, and pages join without a hole or a repeat', async () => {
  const { url } = await start();
  sessionId = await cli.createSession();
  const client = await connect(url.replace('http', 'ws'), '/ws', TOKEN);
  try {
    await runToEnd(client, sessionId, 'first question');
    await runToEnd(client, sessionId, 'second question');
    seen = sequenced(client, sessionId);
  } finally {
    await client.close();
  }
  assert.ok(seen.length >= 6, 'two runs streamed');
  assert.equal(seen.map((f) => f.seq), seen.map((_, i) => i + 1));

  const whole = await history(url, sessionId);
  assert.is(whole.status, 200);
  assert.equal(whole.body.messages, seen, 'exactly what the socket got');
  assert.is(whole.body.hasMore, false);
  assert.is(whole.body.oldestSeq, 1);
  assert.is(whole.body.latestSeq, seen.length);

  const paged: Frame[] = [];
  let afterSeq = 0;
  let pages = 0;
  for (;;) {
    const page = await history(url, sessionId, `?afterSeq=${afterSeq}&limit=4`);
    assert.ok(page.body.messages.length <= 4);
    paged.push(...page.body.messages);
    pages++;
    if (!page.body.hasMore) break;
    afterSeq = page.body.messages.at(-1)!.seq as number;
  }
  assert.equal(paged, seen, 'pages of 4 put together');
  assert.is(pages, Math.ceil(seen.length / 4));

  const tail = await history(url, sessionId, `?afterSeq=${seen.length}`);
  assert.equal(tail.body, { messages: [], hasMore: false, oldestSeq: 1, latestSeq: seen.length });
});

test('subscribing with the last seq loaded replays nothing; the next run continues after it', async () => {
  const url = cli.running!.url;
  const loaded = await history(url, sessionId);
  const lastSeq = loaded.body.latestSeq;
  const client = await connect(url.replace('http', 'ws'), '/ws', TOKEN);
  try {
    client.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq }] });
    const ack = await client.waitFor((f) => f.kind === 'chat_subscribed');
    assert.is(ack.lastSeq, lastSeq);
    await runToEnd(client, sessionId, 'third question');
    const fresh = sequenced(client, sessionId);
    assert.is(fresh[0].seq, lastSeq + 1, 'nothing shown twice: the first frame is the next seq');
    assert.equal(fresh.map((f) => f.seq), fresh.map((_, i) => lastSeq + 1 + i));
    const after = await history(url, sessionId, `?afterSeq=${lastSeq}`);
    assert.equal(after.body.messages, fresh, 'the new run is history too');
    seen = [...seen, ...fresh];
  } finally {
    await client.close();
  }
});

test('the history survives a restart; unknown sessions are 404, bad numbers 400', async () => {
  await stop();
  const { url } = await start();
  const whole = await history(url, sessionId, '?limit=1000');
  assert.equal(whole.body.messages, seen, 'read back from the SQLite file');
  assert.is((await history(url, 'no-such-session')).status, 404);
  for (const query of ['?afterSeq=-1', '?afterSeq=abc', '?limit=0', '?limit=1.5']) {
    assert.is((await history(url, sessionId, query)).status, 400, query);
  }
  const unauthorized = await fetch(`${url}/api/providers/sessions/${sessionId}/messages`);
  assert.is(unauthorized.status, 401);
});

test.run();
