/**
 * The event log's write-health machine on its own (persistence/writeHealth.ts): the transition
 * table, and the effects of each transition (logging, the retry timer, the drop report), with a
 * fake timer so every retry is taken by the test, never by the wall clock.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import {
  MAX_LOGGED_FAILURE_KINDS,
  nextWriteState,
  WRITE_TRANSITIONS,
  WriteHealth,
  type RetryTimer,
  type WriteEventType,
  type WriteState,
  unrefRetryTimer,
} from '../persistence/writeHealth.js';

function fakeTimer() {
  const armed: Array<{ callback: () => void; delayMs: number; cancelled: boolean }> = [];
  const timer: RetryTimer = {
    start(callback, delayMs) {
      const entry = { callback, delayMs, cancelled: false };
      armed.push(entry);
      return () => void (entry.cancelled = true);
    },
  };
  const live = () => armed.filter((entry) => !entry.cancelled);
  /** Fires every live timer once (as if their delay passed). */
  const fire = () => {
    for (const entry of live()) {
      entry.cancelled = true;
      entry.callback();
    }
  };
  return { timer, armed, live, fire };
}

function harness(retryDelayMs = 250) {
  const clock = fakeTimer();
  const lines: Array<{ level: 'warn' | 'error'; message: string; fields?: Record<string, unknown> }> = [];
  let retries = 0;
  const health = new WriteHealth({
    retryDelayMs,
    retry: () => void retries++,
    timer: clock.timer,
    logger: {
      warn: (message, fields) => void lines.push({ level: 'warn', message, fields }),
      error: (message, fields) => void lines.push({ level: 'error', message, fields }),
    },
  });
  const fail = (error: unknown, pendingEvents = 0) => health.send({ type: 'write.failed', error, pendingEvents });
  return { health, clock, lines, retries: () => retries, fail };
}

const coded = (code: string, message = `failed with ${code}`) => Object.assign(new Error(message), { code });

test('the table: every state and event, as documented in the file header', () => {
  const states: WriteState[] = ['healthy', 'degraded', 'retrying', 'closed'];
  const events: WriteEventType[] = ['write.started', 'write.succeeded', 'write.failed', 'retry.due', 'log.closed'];
  const expected: Record<WriteState, Array<WriteState | null>> = {
    healthy: ['healthy', 'healthy', 'degraded', null, 'closed'],
    degraded: ['retrying', 'healthy', 'degraded', 'degraded', 'closed'],
    retrying: [null, 'healthy', 'degraded', null, 'closed'],
    closed: [null, null, null, null, null],
  };
  for (const state of states) {
    assert.equal(
      events.map((event) => nextWriteState(state, event)),
      expected[state],
      `from ${state}`,
    );
  }
  assert.equal(Object.keys(WRITE_TRANSITIONS).sort(), [...states].sort());
});

test('healthy → degraded → retrying → healthy: lastError kept, timer armed once, recovery logged', () => {
  const { health, clock, lines, retries, fail } = harness();
  assert.is(health.state, 'healthy');
  assert.is(health.isHealthy(), true);
  fail(coded('SQLITE_FULL', 'database or disk is full'), 7);
  assert.is(health.state, 'degraded');
  assert.equal(health.report(7), { degraded: true, lastError: 'database or disk is full', pendingEvents: 7, droppedEvents: 0 });
  assert.equal(lines, [
    {
      level: 'error',
      message: 'Chat event log write failed; events stay in memory and are retried',
      fields: { error: 'database or disk is full', code: 'SQLITE_FULL', pendingEvents: 7 },
    },
  ]);
  assert.is(clock.live().length, 1);
  assert.is(clock.live()[0].delayMs, 250);

  // An explicit flush fails again: same kind, not logged again; the armed timer is kept, not re-armed.
  health.send({ type: 'write.started' });
  assert.is(health.state, 'retrying');
  assert.is(health.report(0).degraded, true);
  fail(coded('SQLITE_FULL'));
  assert.is(health.state, 'degraded');
  assert.is(lines.length, 1);
  assert.is(clock.armed.length, 1);

  // The timer asks for a retry (the writer's flush), which succeeds.
  clock.fire();
  assert.is(retries(), 1);
  assert.is(health.state, 'degraded', 'retry.due only asks; the flush sends write.started');
  health.send({ type: 'write.started' });
  health.send({ type: 'write.succeeded' });
  assert.is(health.state, 'healthy');
  assert.is(health.report(0).degraded, false);
  assert.is(health.report(0).lastError, 'failed with SQLITE_FULL', 'the last error stays visible');
  assert.equal(lines[1], { level: 'warn', message: 'Chat event log writes recovered', fields: { droppedEvents: 0, droppedRunWrites: 0 } });
  assert.is(clock.live().length, 0);
});

test('a new degraded episode logs its failure kinds again and re-arms the timer', () => {
  const { health, clock, lines, fail } = harness();
  fail(coded('SQLITE_BUSY'));
  health.send({ type: 'write.started' });
  health.send({ type: 'write.succeeded' });
  fail(coded('SQLITE_BUSY'));
  assert.equal(
    lines.map((line) => line.fields?.code ?? line.message),
    ['SQLITE_BUSY', 'Chat event log writes recovered', 'SQLITE_BUSY'],
  );
  assert.is(clock.live().length, 1);
  assert.is(clock.armed.length, 2);
});

test('failure kinds: by code, else by message; at most MAX_LOGGED_FAILURE_KINDS per episode', () => {
  const { lines, fail } = harness();
  for (let i = 0; i < MAX_LOGGED_FAILURE_KINDS + 10; i++) fail(new Error(`no such table: t${i}`));
  fail('a thrown string');
  assert.is(lines.length, MAX_LOGGED_FAILURE_KINDS);
  assert.is(lines[0].fields?.code, null);
});

test('dropped events: counted always, reported once per episode with the last error', () => {
  const { health, lines, fail } = harness();
  fail(new Error('disk I/O error'));
  health.countDroppedEvents(5, 100);
  health.countDroppedEvents(3, 100);
  health.countDroppedRunWrite();
  assert.is(health.droppedEvents, 8);
  assert.equal(lines.slice(1), [
    {
      level: 'error',
      message: 'Chat event log is dropping unwritten events: the database has been failing too long',
      fields: { keptEvents: 100, lastError: 'disk I/O error' },
    },
  ]);
  health.send({ type: 'write.started' });
  health.send({ type: 'write.succeeded' });
  assert.equal(lines[2].fields, { droppedEvents: 8, droppedRunWrites: 1 });
  fail(new Error('disk I/O error'));
  health.countDroppedEvents(1, 100);
  assert.is(lines.filter((line) => /dropping/.test(line.message)).length, 2, 'reported again in the new episode');
});

test('retryDelayMs 0: no timer; only explicit flushes retry', () => {
  const { clock, fail, health } = harness(0);
  fail(new Error('x'));
  assert.is(health.state, 'degraded');
  assert.is(clock.armed.length, 0);
});

test('closed: the timer is cancelled and every later event is ignored', () => {
  const { health, clock, retries, lines, fail } = harness();
  fail(new Error('x'));
  assert.is(clock.live().length, 1);
  health.send({ type: 'log.closed' });
  assert.is(health.state, 'closed');
  assert.is(clock.live().length, 0);
  fail(new Error('later'));
  health.send({ type: 'write.started' });
  health.send({ type: 'write.succeeded' });
  health.send({ type: 'retry.due' });
  assert.is(health.state, 'closed');
  assert.is(retries(), 0);
  assert.is(lines.length, 1);
  assert.is(health.report(0).lastError, 'x');
});

test("the default timer is unref'd: a pending retry never keeps the process alive", () => {
  const keepingAlive = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const before = keepingAlive();
  let cancel: (() => void) | null = null;
  const spy: RetryTimer = {
    start(callback, delayMs) {
      cancel = unrefRetryTimer.start(callback, delayMs);
      return cancel;
    },
  };
  const health = new WriteHealth({ retryDelayMs: 60_000, retry: () => {}, timer: spy });
  health.send({ type: 'write.failed', error: new Error('x'), pendingEvents: 0 });
  assert.ok(cancel !== null, 'the retry timer was armed');
  assert.is(keepingAlive(), before);
  health.send({ type: 'log.closed' });
});

test.run();
