/**
 * [cluster] The session store on one real redis-server, with the same meaning as the SQLite
 * store: records and descriptions, updatedAt only forward (record changes, runs), paging newest
 * first with ties by id and an opaque cursor (a foreign one is refused), the `maxSessions` cap
 * exact under concurrent creates, deletion. Also the node bus, the shell registry and the node
 * registry, which share its connection.
 */
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { DEFAULT_RUN_LEASE_MS, type NodeMessage, type RedisClusterOptions } from '../persistence/cluster/types.js';
import { SessionExistsError } from '../persistence/redis/redisCluster.js';
import { encodeSessionCursor, SessionCursorError } from '../persistence/sessionCursor.js';
import { MAX_SESSION_PAGE, SessionLimitError } from '../persistence/sessionStoreApi.js';
import type { ListedSession } from '../persistence/types.js';
import { redisNodes, sleep, until } from './support/redisNodes.js';

let raw: Redis;
// The backend's default lease time: these tests never set one but the node registry's.
const nodes = redisNodes({ letter: 's', defaults: { leaseMs: DEFAULT_RUN_LEASE_MS } });

/** Two nodes' backends on a new key prefix (these tests read no hook records). */
async function twoNodes(options: Partial<RedisClusterOptions> = {}) {
  const { a, b, prefix } = await nodes.twoNodes(options);
  return { a: a.backend, b: b.backend, prefix };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => null,
    (reason: unknown) => reason,
  );
}

/** Byte order, as SQLite's BINARY collation and Redis's sorted sets compare. */
const byteOrder = (x: string, y: string) => Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'));

test.before(async () => {
  raw = new Redis((await nodes.start()).url);
});

test.after(() => nodes.stop(raw));

test('a created session is read, described and updated from every node', async () => {
  const { a, b } = await twoNodes();
  const before = Date.now();
  const created = await a.sessions.createSession({ provider: 'demo', projectPath: '/projects/p', sessionId: 'one', summary: 'first' });
  assert.is(created.sessionId, 'one');
  assert.ok(created.createdAt >= before && created.createdAt === created.updatedAt);
  assert.equal(await b.sessions.getSession('one'), { sessionId: 'one', provider: 'demo', providerSessionId: null, projectPath: '/projects/p' });
  assert.is(await b.sessions.getSession('missing'), null);
  const generated = await a.sessions.createSession({ provider: 'demo' });
  assert.match(generated.sessionId, /^[0-9a-f-]{36}$/);
  assert.equal(await b.sessions.getSession(generated.sessionId), {
    sessionId: generated.sessionId,
    provider: 'demo',
    providerSessionId: null,
    projectPath: null,
  });

  await b.sessions.assignProviderSessionId('one', 'native-1');
  assert.is((await a.sessions.getSession('one'))?.providerSessionId, 'native-1');
  await b.sessions.assignProviderSessionId('missing', 'native-2');
  assert.is(await a.sessions.getSession('missing'), null, 'no record is made for an unknown id');

  assert.equal(await b.sessions.describeSession('one'), {
    session: {
      id: 'one',
      summary: 'first',
      messageCount: 0,
      lastActivity: new Date((await a.sessions.listSessions()).sessions.find((s) => s.sessionId === 'one')!.updatedAt).toISOString(),
    },
    project: { path: '/projects/p' },
  });
  assert.is(await b.sessions.describeSession('missing'), null);
  assert.equal((await b.sessions.describeSession(generated.sessionId))?.project, null);

  const error = await rejection(b.sessions.createSession({ provider: 'other', sessionId: 'one' }));
  assert.instance(error, SessionExistsError);
  assert.is((await a.sessions.getSession('one'))?.provider, 'demo', 'nothing was overwritten');
});

test('updatedAt only moves forward: touch, runs, provider ids', async () => {
  const { a, prefix } = await twoNodes();
  const created = await a.sessions.createSession({ provider: 'demo', sessionId: 's' });
  const later = created.updatedAt + 10_000;
  await a.sessions.touch('s', later);
  await a.sessions.touch('s', created.updatedAt - 5_000);
  const listed = (await a.sessions.listSessions()).sessions[0];
  assert.is(listed.updatedAt, later);
  assert.is(listed.createdAt, created.createdAt);
  assert.is(Number(await raw.hget(`${prefix}session:{s}`, 'updatedAt')), later);
  // A run starting is activity too.
  await a.runs.acquire('s', { runId: 'r', provider: 'demo', startedAt: later + 1 });
  assert.is((await a.sessions.listSessions()).sessions[0].updatedAt, later + 1);
  // Touching an unknown session creates nothing.
  await a.sessions.touch('ghost', later);
  assert.equal((await a.sessions.listSessions()).sessions.map((s) => s.sessionId), ['s']);
});

test('pages go newest first, ties by id descending, with nothing missed or repeated', async () => {
  // Ahead of the creation times, so the touches below move every session forward.
  const clock = Date.now() + 1_000_000;
  const { a, b, prefix } = await twoNodes();
  const ids: string[] = [];
  // Many sessions share a timestamp: the cursor must still be exact.
  for (let i = 0; i < 23; i++) {
    const sessionId = `id-${String.fromCharCode(97 + (i % 26))}${i}-é`;
    ids.push(sessionId);
    await a.sessions.createSession({ provider: 'demo', sessionId });
    await a.sessions.touch(sessionId, clock + (i % 4) * 1000);
  }
  const expected = ids
    .map((sessionId, i) => ({ sessionId, updatedAt: clock + (i % 4) * 1000 }))
    .sort((x, y) => y.updatedAt - x.updatedAt || byteOrder(y.sessionId, x.sessionId))
    .map((s) => s.sessionId);
  const seen: ListedSession[] = [];
  let before: string | null = null;
  let pages = 0;
  do {
    const page = await b.sessions.listSessions({ limit: 5, before });
    pages++;
    seen.push(...page.sessions);
    assert.ok(page.sessions.length <= 5);
    before = page.nextBefore;
    if (before !== null) assert.ok(!before.includes(prefix));
  } while (before !== null);
  assert.is(pages, 5);
  assert.equal(
    seen.map((s) => s.sessionId),
    expected,
  );
  const first = await b.sessions.listSessions({ limit: 23 });
  assert.is(first.nextBefore, null, 'an exact last page has no next cursor');
  // A session moving to the top between pages is simply not repeated below.
  const page1 = await b.sessions.listSessions({ limit: 5 });
  await a.sessions.touch(expected[7], clock + 10_000);
  const page2 = await b.sessions.listSessions({ limit: 5, before: page1.nextBefore });
  assert.equal(
    page2.sessions.map((s) => s.sessionId),
    expected.slice(5, 12).filter((id) => id !== expected[7]).slice(0, 5),
  );
});

test('a cursor this store did not make, or a bad limit, is refused', async () => {
  const { a } = await twoNodes();
  await a.sessions.createSession({ provider: 'demo', sessionId: 'x' });
  const foreign = [
    'garbage',
    encodeSessionCursor({ updatedAt: 1, sessionId: 'x' }),
    'r1.' + Buffer.from('[1]').toString('base64url'),
    'r1.' + Buffer.from('["1","x"]').toString('base64url'),
    'r1.' + 'A'.repeat(5_000),
    'r1.' + Buffer.from('[1,"x"]').toString('base64url') + '=',
  ];
  for (const before of foreign) {
    const error = await rejection(a.sessions.listSessions({ before }));
    assert.instance(error, SessionCursorError, before.slice(0, 30));
  }
  assert.instance(await rejection(a.sessions.listSessions({ limit: 0 })), RangeError);
  assert.instance(await rejection(a.sessions.listSessions({ limit: 1.5 })), RangeError);
  for (let i = 0; i < MAX_SESSION_PAGE + 1; i++) await a.sessions.createSession({ provider: 'demo', sessionId: `bulk-${i}` });
  const page = await a.sessions.listSessions({ limit: 10_000 });
  assert.is(page.sessions.length, MAX_SESSION_PAGE, 'clamped to the maximum page');
  assert.type(page.nextBefore, 'string');
});

test('maxSessions is exact under concurrent creates from two nodes', async () => {
  const { a, b } = await twoNodes();
  const attempts = Array.from({ length: 20 }, (_, i) =>
    rejection((i % 2 === 0 ? a : b).sessions.createSession({ provider: 'demo', sessionId: `c${i}` }, { maxSessions: 7 })),
  );
  const outcomes = await Promise.all(attempts);
  assert.is(outcomes.filter((o) => o === null).length, 7);
  const refused = outcomes.filter((o) => o !== null);
  assert.is(refused.length, 13);
  for (const error of refused) {
    assert.instance(error, SessionLimitError);
    assert.is((error as SessionLimitError).limit, 7);
  }
  assert.is((await a.sessions.listSessions({ limit: 100 })).sessions.length, 7);
});

test('deleteSession removes the record and its place in the listing', async () => {
  const { a, b } = await twoNodes();
  await a.sessions.createSession({ provider: 'demo', sessionId: 'gone' });
  await a.sessions.createSession({ provider: 'demo', sessionId: 'kept' });
  assert.is(await b.sessions.deleteSession('gone'), true);
  assert.is(await b.sessions.deleteSession('gone'), false);
  assert.is(await a.sessions.getSession('gone'), null);
  assert.equal((await a.sessions.listSessions()).sessions.map((s) => s.sessionId), ['kept']);
});

test('the node bus carries messages to the named node only; malformed ones are dropped', async () => {
  const { a, b, prefix } = await twoNodes();
  const toA: NodeMessage[] = [];
  const toB: NodeMessage[] = [];
  a.bus.onMessage((message) => toA.push(message));
  b.bus.onMessage((message) => toB.push(message));
  const abort: NodeMessage = { type: 'abort', sessionId: 's', runId: 'r' };
  const answer: NodeMessage = {
    type: 'permission-response',
    sessionId: 's',
    runId: 'r',
    requestId: 'q',
    decision: { allow: true, updatedInput: { command: 'ls' }, message: 'ok' },
  };
  await a.bus.send('b', abort);
  await a.bus.send('b', answer);
  await a.bus.send('nobody', abort);
  await raw.publish(`${prefix}node:b`, '{"type":"abort"}');
  await raw.publish(`${prefix}node:b`, 'not json');
  await b.bus.send('a', abort);
  await until('B gets both', () => toB.length === 2);
  await until('A gets one', () => toA.length === 1);
  await sleep(50);
  assert.equal(toB, [abort, answer]);
  assert.equal(toA, [abort]);
  assert.instance(await rejection(a.bus.send('b', { type: 'nope' } as unknown as NodeMessage)), TypeError);
});

test('the shell registry names the node holding a key, until it drops it or stops renewing', async () => {
  const leaseMs = 900;
  const { a, b, prefix } = await twoNodes({ leaseMs });
  await a.shells.claim('k1');
  await a.shells.claim('k2');
  assert.is(await b.shells.holder('k1'), 'a');
  assert.is(await b.shells.holder('none'), null);
  await sleep(leaseMs * 2);
  assert.is(await b.shells.holder('k1'), 'a', 'renewed while held');
  await b.shells.drop('k1');
  assert.is(await b.shells.holder('k1'), 'a', 'another node cannot drop it');
  await a.shells.drop('k1');
  assert.is(await b.shells.holder('k1'), null);
  // A node that stops (here: closes) leaves no key behind.
  await a.close();
  assert.is(await b.shells.holder('k2'), null);
  assert.is(await raw.exists(`${prefix}shell:k2`), 0);
});

test('nodes() lists the nodes announced within the lease time', async () => {
  const leaseMs = 900;
  const { a, b } = await twoNodes({ leaseMs });
  assert.equal((await a.nodes()).sort(), ['a', 'b']);
  await sleep(leaseMs * 2);
  assert.equal((await b.nodes()).sort(), ['a', 'b'], 'announced again every third of the lease');
  await a.close();
  assert.equal(await b.nodes(), ['b']);
  assert.equal(b.health(), { backend: 'redis', connected: true, lastError: null });
});

test.run();
