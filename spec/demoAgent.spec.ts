import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';

import { createDemoRuntime, demoAnswerWords, type DemoTimers } from '../gateway/app/demoAgent.js';
import type { RuntimeWriter } from '../gateway/types.js';

type Message = Record<string, unknown> & { kind: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const WAIT_LIMIT_MS = 5000;

/** A writer that records every message and lets a test wait for one. */
function recordingWriter(initialProviderId: string | null = null) {
  const messages: Message[] = [];
  let providerId = initialProviderId;
  const listeners = new Set<() => void>();
  const writer: RuntimeWriter = {
    send(message: unknown) {
      const record = message as Message;
      messages.push(record);
      if (record.kind === 'session_created' && typeof record.newSessionId === 'string' && providerId === null) {
        providerId = record.newSessionId;
      }
      for (const listener of [...listeners]) listener();
    },
    setSessionId(id: string) {
      providerId = id;
    },
    getSessionId() {
      return providerId;
    },
    userId: null,
    isWebSocketWriter: true,
  };
  function waitFor(predicate: (all: Message[]) => boolean, what: string): Promise<void> {
    if (predicate(messages)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${kinds().join(',')}`));
      }, WAIT_LIMIT_MS);
      function check() {
        if (!predicate(messages)) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve();
      }
      listeners.add(check);
    });
  }
  const kinds = () => messages.map((m) => m.kind);
  const ofKind = (kind: string) => messages.filter((m) => m.kind === kind);
  return { writer, messages, waitFor, kinds, ofKind };
}

/** A simulated clock that also counts live timers, so a test can see that a run left none behind. */
function countingClock() {
  const clock = new SimulatedClock();
  const live = new Set<number>();
  const timers: DemoTimers = {
    setTimeout(callback, ms) {
      const id = clock.setTimeout(() => {
        live.delete(id);
        callback();
      }, ms);
      live.add(id);
      return id;
    },
    clearTimeout(handle) {
      if (typeof handle !== 'number') return;
      live.delete(handle);
      clock.clearTimeout(handle);
    },
  };
  /** Advances time, then lets the runtime's promise continuations run. */
  async function advance(ms: number) {
    clock.increment(ms);
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
  return { timers, live, advance };
}

const APP_ID = 'app-session-1';
const runOptions = (sessionId = APP_ID) => ({ sessionId, projectPath: '/tmp/project', cwd: '/tmp/project' });

test('a full turn with an allowed tool, in protocol order, with a complete envelope', async () => {
  const runtime = createDemoRuntime({ deltaIntervalMs: 0 });
  const rec = recordingWriter();
  const done = runtime.run('demo', 'explain the gateway please', runOptions(), rec.writer);
  await rec.waitFor((all) => all.some((m) => m.kind === 'permission_request'), 'permission_request');

  const request = rec.ofKind('permission_request')[0];
  const pending = runtime.getPendingApprovalsForSession(APP_ID) as Array<Record<string, unknown>>;
  assert.is(pending.length, 1);
  assert.is(pending[0].requestId, request.requestId);
  assert.is(pending[0].toolName, request.toolName);
  assert.is(pending[0].sessionId, APP_ID);
  assert.equal(pending[0].input, request.input);

  runtime.resolveToolApproval(String(request.requestId), { allow: true });
  await done;

  const kinds = rec.kinds();
  const deltas = rec.ofKind('stream_delta');
  assert.ok(deltas.length >= 40 && deltas.length <= 80, `delta count ${deltas.length}`);
  const expected = ['session_created', 'text', 'status', 'thinking', ...deltas.map(() => 'stream_delta'), 'stream_end', 'tool_use', 'permission_request', 'tool_result', 'text', 'complete'];
  assert.equal(kinds, expected);
  // The prompt is the run's first frame (session_created is captured by the gateway, never sent).
  assert.is(rec.messages[1].role, 'user');
  assert.is(rec.messages[1].content, 'explain the gateway please');

  const created = rec.messages[0];
  assert.match(String(created.newSessionId), /^demo-[0-9a-f-]{36}$/);
  for (const message of rec.messages.slice(1)) {
    assert.match(String(message.id), UUID, `id of ${message.kind}`);
    assert.ok(!Number.isNaN(Date.parse(String(message.timestamp))), `timestamp of ${message.kind}`);
    assert.is(new Date(String(message.timestamp)).toISOString(), message.timestamp);
    assert.is(message.provider, 'demo');
    assert.is(message.sessionId, created.newSessionId);
  }
  for (const delta of deltas) assert.match(String(delta.content), /^\S+ $/);

  const toolUse = rec.ofKind('tool_use')[0];
  assert.ok(toolUse.toolName === 'Bash' || toolUse.toolName === 'Read');
  assert.is(request.toolName, toolUse.toolName);
  assert.match(String(request.requestId), UUID);
  const result = rec.ofKind('tool_result')[0];
  assert.is(result.toolId, toolUse.toolId);
  assert.is(result.isError, false);
  assert.type(result.content, 'string');
  const complete = rec.ofKind('complete');
  assert.is(complete.length, 1);
  assert.is(complete[0].exitCode, 0);
  assert.is(complete[0].success, true);
  assert.is(complete[0].aborted, false);
  assert.equal(runtime.getPendingApprovalsForSession(APP_ID), []);
});

test('the answer reads as sentences in order: the prompt echoed first, what comes next last', () => {
  const text = demoAnswerWords('please list my files').join(' ');
  assert.ok(text.startsWith('You asked: "please list my files".'), text);
  assert.ok(text.endsWith('Next I will look at your project, and I will ask before I run a tool.'), text);
  // Every sentence is whole and ends with a full stop.
  for (const sentence of text.split(/(?<=\.)\s+/)) assert.match(sentence, /^[A-Z].*\.$/, sentence);
  const quiet = demoAnswerWords('just talk /no-tool').join(' ');
  assert.ok(quiet.endsWith('This time I will not use any tool.'), quiet);
  assert.not.match(quiet, /ask before I run a tool/);
});

test('/no-tool: neither the thinking nor the answer announces a tool', async () => {
  const runtime = createDemoRuntime({ deltaIntervalMs: 0 });
  const rec = recordingWriter();
  await runtime.run('demo', 'just talk /no-tool', runOptions(), rec.writer);
  assert.match(String(rec.ofKind('thinking')[0].content), /without using any tool/);
  assert.not.match(String(rec.ofKind('thinking')[0].content), /with a tool/);
  const answer = rec.ofKind('stream_delta').map((m) => m.content).join('');
  assert.match(answer, /This time I will not use any tool\. $/);
});

test('the answer is derived deterministically from the prompt', () => {
  assert.equal(demoAnswerWords('hello world'), demoAnswerWords('hello world'));
  assert.not.equal(demoAnswerWords('hello world'), demoAnswerWords('something else entirely'));
  for (const prompt of ['', 'x', 'a much longer prompt with many words in it to mix in']) {
    const count = demoAnswerWords(prompt).length;
    assert.ok(count >= 40 && count <= 80, `count ${count} for "${prompt}"`);
  }
});

test('a resumed session keeps its provider id and sends no session_created', async () => {
  const runtime = createDemoRuntime({ deltaIntervalMs: 0 });
  const rec = recordingWriter('demo-existing');
  await runtime.run('demo', 'again /no-tool', runOptions(), rec.writer);
  assert.not.ok(rec.kinds().includes('session_created'));
  for (const message of rec.messages) assert.is(message.sessionId, 'demo-existing');
  assert.is(rec.ofKind('complete').length, 1);
});

test('a denied tool gives an error tool_result with the deny message, then the turn completes', async () => {
  const runtime = createDemoRuntime({ deltaIntervalMs: 0 });
  const rec = recordingWriter();
  const done = runtime.run('demo', 'deny me', runOptions(), rec.writer);
  await rec.waitFor((all) => all.some((m) => m.kind === 'permission_request'), 'permission_request');
  const request = rec.ofKind('permission_request')[0];
  runtime.resolveToolApproval(String(request.requestId), { allow: false, message: 'not today' });
  await done;
  const result = rec.ofKind('tool_result');
  assert.is(result.length, 1);
  assert.is(result[0].isError, true);
  assert.is(result[0].content, 'not today');
  assert.equal(rec.kinds().slice(-3), ['tool_result', 'text', 'complete']);
  assert.is(rec.ofKind('complete')[0].exitCode, 0);
});

test('an unanswered permission times out: permission_cancelled, an error tool_result, complete', async () => {
  const clock = countingClock();
  const runtime = createDemoRuntime({ deltaIntervalMs: 0, permissionTimeoutMs: 60_000, timers: clock.timers });
  const rec = recordingWriter();
  const done = runtime.run('demo', 'wait for me', runOptions(), rec.writer);
  await rec.waitFor((all) => all.some((m) => m.kind === 'permission_request'), 'permission_request');
  const request = rec.ofKind('permission_request')[0];

  await clock.advance(59_999);
  assert.not.ok(rec.kinds().includes('permission_cancelled'), 'cancelled too early');
  assert.is(runtime.getPendingApprovalsForSession(APP_ID).length, 1);

  await clock.advance(1);
  await done;
  assert.equal(rec.kinds().slice(-4), ['permission_cancelled', 'tool_result', 'text', 'complete']);
  const cancelled = rec.ofKind('permission_cancelled')[0];
  assert.is(cancelled.requestId, request.requestId);
  assert.is(cancelled.reason, 'timeout');
  assert.is(rec.ofKind('tool_result')[0].isError, true);
  assert.equal(runtime.getPendingApprovalsForSession(APP_ID), []);
  assert.is(clock.live.size, 0, 'timers left behind');

  // A late answer is a no-op.
  runtime.resolveToolApproval(String(request.requestId), { allow: true });
  assert.is(rec.ofKind('tool_result').length, 1);
});

test('abort mid-stream stops the turn, clears its timers and sends no complete', async () => {
  const clock = countingClock();
  const runtime = createDemoRuntime({ deltaIntervalMs: 50, timers: clock.timers });
  const rec = recordingWriter();
  let settled = false;
  const done = runtime.run('demo', 'stream slowly', runOptions(), rec.writer).finally(() => {
    settled = true;
  });
  await clock.advance(50);
  await clock.advance(50);
  await clock.advance(50);
  assert.is(rec.ofKind('stream_delta').length, 3);
  assert.not.ok(settled);

  assert.is(await runtime.abort('demo', APP_ID), true);
  await done;
  const countAfterAbort = rec.messages.length;
  assert.is(clock.live.size, 0, 'timers left behind');
  await clock.advance(10_000);
  assert.is(rec.messages.length, countAfterAbort, 'messages after abort');
  assert.not.ok(rec.kinds().includes('complete'));
  assert.not.ok(rec.kinds().includes('stream_end'));
  assert.is(await runtime.abort('demo', APP_ID), false, 'second abort finds no run');
});

test('abort while a permission is pending withdraws it and resolves the run', async () => {
  const clock = countingClock();
  const runtime = createDemoRuntime({ deltaIntervalMs: 0, timers: clock.timers });
  const rec = recordingWriter();
  const done = runtime.run('demo', 'ask then abort', runOptions(), rec.writer);
  await rec.waitFor((all) => all.some((m) => m.kind === 'permission_request'), 'permission_request');
  const request = rec.ofKind('permission_request')[0];

  assert.is(await runtime.abort('demo', APP_ID), true);
  await done;
  assert.equal(rec.kinds().slice(-2), ['permission_request', 'permission_cancelled']);
  const cancelled = rec.ofKind('permission_cancelled')[0];
  assert.is(cancelled.requestId, request.requestId);
  assert.is(cancelled.reason, 'cancelled');
  assert.equal(runtime.getPendingApprovalsForSession(APP_ID), []);
  assert.is(clock.live.size, 0, 'timers left behind');
  runtime.resolveToolApproval(String(request.requestId), { allow: true });
  assert.not.ok(rec.kinds().includes('tool_result'));
});

test('abort only stops the run of the named session', async () => {
  const clock = countingClock();
  const runtime = createDemoRuntime({ deltaIntervalMs: 0, timers: clock.timers });
  const first = recordingWriter();
  const second = recordingWriter();
  const runA = runtime.run('demo', 'one', runOptions('a'), first.writer);
  const runB = runtime.run('demo', 'two', runOptions('b'), second.writer);
  await first.waitFor((all) => all.some((m) => m.kind === 'permission_request'), 'A permission');
  await second.waitFor((all) => all.some((m) => m.kind === 'permission_request'), 'B permission');
  assert.is(runtime.getPendingApprovalsForSession('a').length, 1);
  assert.is(runtime.getPendingApprovalsForSession('b').length, 1);
  // The provider-native id finds the same request.
  assert.is(runtime.getPendingApprovalsForSession(String(first.writer.getSessionId())).length, 1);

  assert.is(await runtime.abort('demo', 'a'), true);
  await runA;
  assert.is(runtime.getPendingApprovalsForSession('b').length, 1);
  const request = second.ofKind('permission_request')[0];
  runtime.resolveToolApproval(String(request.requestId), { allow: true });
  await runB;
  assert.is(second.ofKind('complete').length, 1);
});

test('/throw rejects before any event', async () => {
  const runtime = createDemoRuntime({ deltaIntervalMs: 0 });
  const rec = recordingWriter();
  try {
    await runtime.run('demo', 'please /throw', runOptions(), rec.writer);
    assert.unreachable('run should reject');
  } catch (error) {
    assert.instance(error, Error);
    assert.is((error as Error).message, 'demo runtime failure');
  }
  assert.is(rec.messages.length, 0);
});

test('/no-complete resolves without a complete', async () => {
  const runtime = createDemoRuntime({ deltaIntervalMs: 0 });
  const rec = recordingWriter();
  await runtime.run('demo', '/no-tool /no-complete', runOptions(), rec.writer);
  assert.not.ok(rec.kinds().includes('complete'));
  assert.is(rec.kinds().at(-1), 'text');
});

test('/double-complete sends complete twice', async () => {
  const runtime = createDemoRuntime({ deltaIntervalMs: 0 });
  const rec = recordingWriter();
  await runtime.run('demo', '/no-tool /double-complete', runOptions(), rec.writer);
  assert.is(rec.ofKind('complete').length, 2);
  assert.equal(rec.kinds().slice(-2), ['complete', 'complete']);
});

test('/no-tool skips the tool and the permission step', async () => {
  const runtime = createDemoRuntime({ deltaIntervalMs: 0 });
  const rec = recordingWriter();
  await runtime.run('demo', 'just talk /no-tool', runOptions(), rec.writer);
  for (const kind of ['tool_use', 'permission_request', 'tool_result']) assert.not.ok(rec.kinds().includes(kind), kind);
  assert.equal(rec.kinds().slice(-3), ['stream_end', 'text', 'complete']);
});

test('/stubborn: abort answers false and the turn runs to its end', async () => {
  const clock = countingClock();
  const runtime = createDemoRuntime({ deltaIntervalMs: 50, timers: clock.timers });
  const rec = recordingWriter();
  const done = runtime.run('demo', 'hold on /stubborn /no-tool', runOptions(), rec.writer);
  await clock.advance(50);
  assert.is(rec.ofKind('stream_delta').length, 1);
  assert.is(await runtime.abort('demo', APP_ID), false);
  for (let i = 0; i < 100 && rec.ofKind('complete').length === 0; i++) await clock.advance(50);
  await done;
  assert.is(rec.ofKind('complete').length, 1);
  assert.is(rec.ofKind('complete')[0].aborted, false);
  assert.is(clock.live.size, 0);
});

test('only the demo provider has a runtime; abort of an unknown run is false', async () => {
  const runtime = createDemoRuntime({ deltaIntervalMs: 0 });
  assert.equal(runtime.providers, ['demo']);
  assert.ok(runtime.hasRuntime('demo'));
  assert.not.ok(runtime.hasRuntime('claude'));
  assert.not.ok(runtime.hasRuntime(''));
  assert.is(await runtime.abort('demo', 'nobody'), false);
  runtime.resolveToolApproval('no-such-request', { allow: true });
  assert.equal(runtime.getPendingApprovalsForSession('nobody'), []);
  const rec = recordingWriter();
  try {
    await runtime.run('claude', 'hi', runOptions(), rec.writer);
    assert.unreachable('run should reject');
  } catch (error) {
    assert.match((error as Error).message, /claude/);
  }
  assert.throws(() => createDemoRuntime({ deltaIntervalMs: -1 }), /deltaIntervalMs/);
});

test('default pace streams with real timers and still finishes', async () => {
  const runtime = createDemoRuntime({ deltaIntervalMs: 1 });
  const rec = recordingWriter();
  await runtime.run('demo', 'real timers /no-tool', runOptions(), rec.writer);
  assert.is(rec.ofKind('complete').length, 1);
});

test.run();
