/**
 * [cluster] Run leases and run records on one real redis-server, two nodes: exactly one of racing
 * acquires wins; a held session names its run; renewals keep a lease alive past its time; a run
 * whose node stopped renewing is taken over once, by one node; release, pending approvals, get and
 * list; a renewal that finds another token reports the loss at once.
 */
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { StoredApproval } from '../persistence/cluster/types.js';
import { lostRuns, redisNodes, sleep, until } from './support/redisNodes.js';

let raw: Redis;
const nodes = redisNodes({ letter: 'l' });
const { openNode, twoNodes } = nodes;

const run = (runId: string, startedAt = 1_700_000_000_000) => ({ runId, provider: 'demo', startedAt });

test.before(async () => {
  raw = new Redis((await nodes.start()).url);
});

test.after(() => nodes.stop(raw));

test('exactly one of two racing acquires wins, for every session', async () => {
  const { a, b, prefix } = await twoNodes();
  const sessions = Array.from({ length: 30 }, (_, i) => `s${i}`);
  const results = await Promise.all(
    sessions.flatMap((sessionId) => [
      a.backend.runs.acquire(sessionId, run(`a-${sessionId}`)).then((result) => ({ node: 'a', sessionId, result })),
      b.backend.runs.acquire(sessionId, run(`b-${sessionId}`)).then((result) => ({ node: 'b', sessionId, result })),
    ]),
  );
  for (const sessionId of sessions) {
    const mine = results.filter((r) => r.sessionId === sessionId);
    const winners = mine.filter((r) => r.result.outcome === 'acquired');
    assert.is(winners.length, 1, `one winner for ${sessionId}`);
    const winner = winners[0].node;
    const loser = mine.find((r) => r.result.outcome === 'held');
    assert.ok(loser);
    if (loser.result.outcome !== 'held') throw new Error('unreachable');
    assert.is(loser.result.holder.runId, `${winner}-${sessionId}`);
    assert.is(loser.result.holder.nodeId, winner);
    assert.is(loser.result.holder.leaseAlive, true);
    const holderNode = winner === 'a' ? a : b;
    const otherNode = winner === 'a' ? b : a;
    assert.type(holderNode.backend.runs.tokenOf(sessionId), 'string');
    assert.is(otherNode.backend.runs.tokenOf(sessionId), null);
    assert.is(await raw.get(`${prefix}lease:{${sessionId}}`), holderNode.backend.runs.tokenOf(sessionId));
  }
  assert.is((await raw.smembers(`${prefix}runs`)).length, sessions.length);
});

test('a held session names its run: node, provider, start, first seq, approvals, liveness', async () => {
  const { a, b } = await twoNodes();
  const acquired = await a.backend.runs.acquire('s', run('run-1', 1_700_000_000_123));
  assert.equal(acquired.outcome === 'acquired' && acquired.latestSeq, 0);
  const approvals: StoredApproval[] = [{ requestId: 'req-1', runId: 'run-1', toolName: 'Bash', input: { command: 'ls' } }];
  await a.backend.runs.setPending('s', approvals);
  const held = await b.backend.runs.acquire('s', run('run-2'));
  assert.equal(held, {
    outcome: 'held',
    holder: {
      sessionId: 's',
      runId: 'run-1',
      nodeId: 'a',
      provider: 'demo',
      startedAt: 1_700_000_000_123,
      firstSeq: 1,
      pendingPermissions: approvals,
      leaseAlive: true,
    },
  });
  assert.equal(await b.backend.runs.get('s'), held.outcome === 'held' ? held.holder : null);
  assert.is(await b.backend.runs.get('none'), null);
  // A node without the lease cannot write the approvals.
  await b.backend.runs.setPending('s', []);
  assert.equal((await a.backend.runs.get('s'))?.pendingPermissions, approvals);
});

test('the first seq of a run follows the session\'s log', async () => {
  const { a } = await twoNodes();
  await a.backend.eventLog.prepare('s', 0);
  const first = await a.backend.runs.acquire('s', run('run-1'));
  assert.ok(first.outcome === 'acquired');
  for (let seq = 1; seq <= 4; seq++) {
    a.backend.eventLog.append({ sessionId: 's', seq, runId: 'run-1', kind: seq === 4 ? 'complete' : 'text', json: '{}', at: seq });
  }
  await new Promise<void>((resolve) => a.backend.eventLog.whenWritten!(resolve));
  const second = await a.backend.runs.acquire('s', run('run-2'));
  assert.equal(second.outcome === 'acquired' && second.latestSeq, 4);
  assert.is((await a.backend.runs.get('s'))?.firstSeq, 5);
});

test('renewals keep a lease alive past its time', async () => {
  const leaseMs = 600;
  const { a, b, prefix } = await twoNodes({ leaseMs });
  await a.backend.runs.acquire('s', run('run-1'));
  await sleep(leaseMs * 3);
  assert.ok((await raw.pttl(`${prefix}lease:{s}`)) > 0);
  assert.equal(a.lost, []);
  assert.is((await b.backend.runs.get('s'))?.leaseAlive, true);
  assert.is(await b.backend.runs.takeOver('s', 'run-1'), null, 'a live lease cannot be taken over');
});

test('a run whose node stopped renewing is taken over once, then completed by its new node', async () => {
  const leaseMs = 500;
  const prefix = nodes.newPrefix();
  const a = await openNode('a', prefix, { leaseMs });
  const b = await openNode('b', prefix, { leaseMs });
  const c = await openNode('c', prefix, { leaseMs });
  await a.backend.eventLog.prepare('s', 0);
  await a.backend.runs.acquire('s', run('run-1'));
  a.backend.eventLog.append({ sessionId: 's', seq: 1, runId: 'run-1', kind: 'text', json: '{}', at: 1 });
  await new Promise<void>((resolve) => a.backend.eventLog.whenWritten!(resolve));
  // The node dies: it stops renewing (closing does not release its leases).
  await a.backend.close();
  await until('the lease expires', async () => (await b.backend.runs.get('s'))?.leaseAlive === false, 2_000);
  const record = await b.backend.runs.get('s');
  assert.is(record?.nodeId, 'a');
  assert.equal((await b.backend.runs.list()).map((r) => r.sessionId), ['s']);
  assert.is(await b.backend.runs.takeOver('s', 'other-run'), null, 'only the recorded run');
  const [byB, byC] = await Promise.all([b.backend.runs.takeOver('s', 'run-1'), c.backend.runs.takeOver('s', 'run-1')]);
  assert.is([byB, byC].filter((r) => r !== null).length, 1, 'exactly one node takes it over');
  const winner = byB !== null ? b : c;
  const taken = byB ?? byC;
  assert.ok(taken);
  assert.is(taken.latestSeq, 1);
  assert.is(winner.backend.runs.tokenOf('s'), taken.token);
  const after = await winner.backend.runs.get('s');
  assert.is(after?.nodeId, winner.backend.nodeId);
  assert.is(after?.leaseAlive, true);
  await winner.backend.eventLog.prepare('s', 0);
  winner.backend.eventLog.append({ sessionId: 's', seq: 2, runId: 'run-1', kind: 'complete', json: '{"reason":"node_lost"}', at: 2 });
  await new Promise<void>((resolve) => winner.backend.eventLog.whenWritten!(resolve));
  assert.is(await winner.backend.runs.get('s'), null);
  assert.equal(await winner.backend.runs.list(), []);
  assert.is(winner.backend.runs.tokenOf('s'), null);
  await sleep(leaseMs);
  assert.equal(winner.lost, [], 'the ended lease is not reported lost');
});

test('release deletes the record and the lease if they are still ours', async () => {
  const { a, b, prefix } = await twoNodes();
  await a.backend.runs.acquire('s', run('run-1'));
  await b.backend.runs.release('s');
  assert.ok(await a.backend.runs.get('s'), 'a node without the lease releases nothing');
  await a.backend.runs.release('s');
  assert.is(await a.backend.runs.get('s'), null);
  assert.is(await raw.exists(`${prefix}lease:{s}`), 0);
  assert.equal(await raw.smembers(`${prefix}runs`), []);
  assert.is(a.backend.runs.tokenOf('s'), null);
  const again = await b.backend.runs.acquire('s', run('run-2'));
  assert.is(again.outcome, 'acquired');
});

test('a renewal that finds another token reports the loss at once', async () => {
  const leaseMs = 600;
  const { a, prefix } = await twoNodes({ leaseMs });
  await a.backend.runs.acquire('s', run('run-1'));
  await raw.set(`${prefix}lease:{s}`, 'someone-else', 'PX', 10_000);
  const started = Date.now();
  await until('the loss is reported', () => a.lost.length === 1, 2_000);
  assert.ok(Date.now() - started < leaseMs, 'at the next renewal, before the lease time');
  assert.equal(lostRuns(a), [{ sessionId: 's', runId: 'run-1' }]);
  assert.is(a.backend.runs.tokenOf('s'), null);
});

test('list reads every unfinished run of the cluster', async () => {
  const { a, b } = await twoNodes();
  await a.backend.runs.acquire('s1', run('r1'));
  await b.backend.runs.acquire('s2', run('r2'));
  await b.backend.runs.acquire('s3', run('r3'));
  const listed = (await a.backend.runs.list()).map((r) => `${r.sessionId}/${r.runId}/${r.nodeId}/${r.leaseAlive}`).sort();
  assert.equal(listed, ['s1/r1/a/true', 's2/r2/b/true', 's3/r3/b/true']);
  assert.is(a.backend.runs.leaseMs, 5_000);
});

test.run();
