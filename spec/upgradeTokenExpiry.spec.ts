/**
 * `watchTokenExpiry` (gateway/upgrade.ts): the time left on a user's token is read once from the
 * wall clock, then counted down on the gateway's XState clock, so a SimulatedClock reaches a
 * token's expiry exactly like any machine timeout.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';

import { watchTokenExpiry } from '../gateway/upgrade.js';

const NOW = 1_700_000_000_000;
const now = () => NOW;

function watch(user: Record<string, unknown>) {
  const clock = new SimulatedClock();
  let expired = 0;
  const cancel = watchTokenExpiry({ id: 'u', ...user }, () => expired++, { clock, now });
  return { clock, cancel, expired: () => expired };
}

test('expires when the clock reaches expiresAt (epoch ms), not a moment before', () => {
  const w = watch({ expiresAt: NOW + 5000 });
  w.clock.increment(4999);
  assert.is(w.expired(), 0);
  w.clock.increment(1);
  assert.is(w.expired(), 1);
  w.clock.increment(60_000);
  assert.is(w.expired(), 1, 'once');
});

test('reads `exp` (epoch seconds) when there is no expiresAt', () => {
  const w = watch({ exp: NOW / 1000 + 2 });
  w.clock.increment(1999);
  assert.is(w.expired(), 0);
  w.clock.increment(1);
  assert.is(w.expired(), 1);
});

test('a token already expired expires at once; one without expiry never does', () => {
  assert.is(watch({ expiresAt: NOW - 1 }).expired(), 1);
  assert.is(watch({ expiresAt: NOW }).expired(), 1);
  const never = watch({});
  never.clock.increment(10 * 365 * 24 * 3600 * 1000);
  assert.is(never.expired(), 0);
});

test('an expiry beyond setTimeout\'s largest delay is waited for in steps, to the millisecond', () => {
  const far = 40 * 24 * 3600 * 1000; // 40 days: more than 2^31 - 1 ms
  const w = watch({ expiresAt: NOW + far });
  w.clock.increment(2_147_483_647);
  assert.is(w.expired(), 0);
  w.clock.increment(far - 2_147_483_647 - 1);
  assert.is(w.expired(), 0);
  w.clock.increment(1);
  assert.is(w.expired(), 1);
});

test('cancelling stops the wait (a socket that closed first)', () => {
  const w = watch({ expiresAt: NOW + 1000 });
  w.cancel();
  w.clock.increment(5000);
  assert.is(w.expired(), 0);
  w.cancel();
});

test('without a clock it runs on Node\'s timers and the real wall clock', async () => {
  let cancelled = false;
  await new Promise<void>((resolve) => {
    watchTokenExpiry({ id: 'u', expiresAt: Date.now() + 20 }, resolve);
  });
  const cancel = watchTokenExpiry({ id: 'u', expiresAt: Date.now() + 20 }, () => {
    cancelled = true;
  });
  cancel();
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.not.ok(cancelled, 'a cancelled real timer does not fire');
});

test.run();
