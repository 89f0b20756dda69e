/**
 * The requestId → session index of open approvals (gateway/chat/sessionEffects.ts) follows the
 * sessions' `permission.opened`/`permission.closed`, and forgets what a session still listed when
 * its actor closed (a late request of an ended run), so it cannot grow past the live sessions.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { ChatConnections } from '../gateway/chat/chatConnections.js';
import type { Fanout } from '../gateway/chat/fanout.js';
import { createSessionEffects } from '../gateway/chat/sessionEffects.js';
import { silentLogger } from '../gateway/logger.js';
import type { ProviderRuntime } from '../gateway/types.js';
import type { ChatEventLog, SessionStore } from '../persistence/types.js';

const effects = () =>
  createSessionEffects({
    connections: {} as ChatConnections,
    fanout: () => ({}) as Fanout,
    log: {} as ChatEventLog,
    runtime: {} as ProviderRuntime,
    sessions: {} as SessionStore,
    logger: silentLogger,
    now: () => 0,
  });

test('opened and closed requests keep the index; a closed session takes its open requests with it', () => {
  const e = effects();
  e.handle('s1', { type: 'permission.opened', requestId: 'r1' });
  e.handle('s2', { type: 'permission.opened', requestId: 'r1' });
  e.handle('s1', { type: 'permission.opened', requestId: 'r2' });
  assert.equal([...(e.permissionOwners('r1') ?? [])], ['s1', 's2']);
  e.handle('s2', { type: 'permission.closed', requestId: 'r1' });
  assert.equal([...(e.permissionOwners('r1') ?? [])], ['s1']);
  e.sessionClosed('s1', [
    { requestId: 'r1', runId: 'a', toolName: 'Bash', input: {} },
    { requestId: 'r2', runId: 'a', toolName: 'Bash', input: {} },
  ]);
  assert.is(e.permissionOwners('r1'), undefined);
  assert.is(e.permissionOwners('r2'), undefined);
});

test.run();
