/** A /shell `sessionId` longer than `maxSessionIdLength` is refused with its own error frame, as /ws refuses long ids. */
import * as assert from 'uvu/assert';

import { DEFAULT_LIMITS } from '../gateway/config.js';
import { shellSuite } from './support/shellHarness.js';

const test = shellSuite('shell session id length');

test('a 100 000-character sessionId gets "Session ID too long" and starts nothing; the longest allowed id works', async ({ harness, dir }) => {
  const client = await harness.connect({ mirror: false });
  client.init({ projectPath: dir, sessionId: 'a'.repeat(100_000), initialCommand: 'sleep 5' });
  const refused = await client.waitForFrame('error');
  assert.is(refused.message, 'Session ID too long');
  assert.equal(harness.route.listActors(), []);

  client.init({ projectPath: dir, sessionId: 'a'.repeat(DEFAULT_LIMITS.maxSessionIdLength + 1), initialCommand: 'sleep 5' });
  await client.waitFor(() => client.frames.filter((f) => f.type === 'error').length === 2, 'the second refusal');
  assert.equal(harness.route.listActors(), []);

  client.init({ projectPath: dir, sessionId: 'b'.repeat(DEFAULT_LIMITS.maxSessionIdLength), initialCommand: 'echo ok; sleep 5' });
  await client.waitForOutput('ok');
  assert.is(harness.route.listActors().length, 1);
  assert.is(client.ws.readyState, client.ws.OPEN);
  await client.close();
});

test.run();
