import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { DEFAULT_LIMITS, resolveLimits } from '../gateway/config.js';

test('no overrides: the documented defaults', () => {
  assert.equal(resolveLimits(undefined), { ...DEFAULT_LIMITS });
  assert.is(resolveLimits({}).maxPayloadBytes, 1024 * 1024);
  assert.is(resolveLimits({}).maxSocketBufferBytes, 64 * 1024 * 1024);
});

test('an override replaces one limit and leaves the rest', () => {
  const limits = resolveLimits({ maxPtysTotal: 3 });
  assert.is(limits.maxPtysTotal, 3);
  assert.is(limits.maxPtysPerUser, DEFAULT_LIMITS.maxPtysPerUser);
});

test('unknown, negative, non-finite and non-number limits are refused by name', () => {
  assert.throws(() => resolveLimits({ noSuchLimit: 1 } as never), /Unknown limit "noSuchLimit"/);
  assert.throws(() => resolveLimits({ maxPayloadBytes: -1 }), /"maxPayloadBytes" must be a finite number >= 0, got -1/);
  assert.throws(() => resolveLimits({ maxPayloadBytes: Number.NaN }), /"maxPayloadBytes"/);
  assert.throws(() => resolveLimits({ maxPayloadBytes: Infinity }), /"maxPayloadBytes"/);
  assert.throws(() => resolveLimits({ maxPayloadBytes: '5' as never }), /"maxPayloadBytes"/);
});

test('low-water marks stay under high-water marks, high-water marks under the socket cut', () => {
  assert.throws(() => resolveLimits({ shellLowWaterMarkBytes: 300 * 1024 }), /"shellLowWaterMarkBytes" must not exceed "shellHighWaterMarkBytes"/);
  assert.throws(() => resolveLimits({ maxSocketBufferBytes: 128 * 1024 }), /must not exceed "maxSocketBufferBytes"/);
  assert.throws(() => resolveLimits({ pluginLowWaterMarkBytes: 2 * 1024 * 1024 }), /"pluginLowWaterMarkBytes"/);
  assert.not.throws(() => resolveLimits({ maxSocketBufferBytes: 4 * 1024 * 1024 }));
});

test('rate limiting needs a burst of at least one; a session log holds at least one event', () => {
  assert.throws(() => resolveLimits({ rateLimitPerSecond: 10, rateLimitBurst: 0 }), /rateLimitBurst/);
  assert.not.throws(() => resolveLimits({ rateLimitPerSecond: 0, rateLimitBurst: 0 }));
  assert.throws(() => resolveLimits({ maxEventsPerSession: 0 }), /maxEventsPerSession/);
});

test.run();
