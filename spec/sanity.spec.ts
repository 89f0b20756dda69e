import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveLimits } from '../gateway/config.js';
test('limits default', () => { assert.is(resolveLimits({}).maxPayloadBytes, 1024 * 1024); });
test('bad limit', () => { assert.throws(() => resolveLimits({ maxPayloadBytes: -1 })); });
test.run();
