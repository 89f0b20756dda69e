/**
 * Failure is ordinary: every way an ACP agent can break ends the run with an `error` frame and
 * exactly one `complete`, and the next chat.send starts a fresh process that loads the same ACP
 * session. Also: abort, the process bound, the idle stop, and resume after a gateway restart.
 * Real gateway, real sockets, real agent processes (spec/support/acpAgent/agent.mjs).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { AcpLimits } from '../gateway/app/agents/acpLimits.js';
import type { AgentSpec } from '../gateway/app/agents/agentSpecs.js';
import { startAcpHarness, testAgent, turn, kinds, streamed, type AcpHarness } from './support/acpHarness.js';
import { connect, until, type Frame, type TestClient } from './support/chatHarness.js';
import { processExists } from './support/procfs.js';

async function withGateway(agents: AgentSpec[], limits: Partial<AcpLimits>, body: (h: AcpHarness, client: TestClient) => Promise<void>): Promise<void> {
  const harness = await startAcpHarness(agents, limits);
  const client = await connect(harness.url);
  try {
    await body(harness, client);
  } finally {
    await client.close();
    await harness.cleanup();
  }
}

/** An error frame then exactly one complete, which is last. */
function assertFailed(frames: Frame[], message: RegExp): void {
  const order = kinds(frames);
  assert.equal(order[0], 'text');
  assert.equal(order.at(-1), 'complete', order.join(','));
  assert.equal(order.filter((kind) => kind === 'complete').length, 1);
  assert.equal(order.at(-2), 'error', order.join(','));
  assert.match(String(frames.at(-2)!.content), message);
  assert.equal(frames.at(-1)!.success, false);
  assert.equal(frames.at(-1)!.exitCode, 1);
}

const whoami = (frames: Frame[]) => {
  const text = streamed(frames);
  return { session: /session=(\S+)/.exec(text)?.[1], loaded: /loaded=(\w+)/.exec(text)?.[1], pid: /pid=(\d+)/.exec(text)?.[1] };
};

test('a command that does not exist: a clear error, one complete, every time', async () => {
  await withGateway([{ name: 'ghost', command: '/nonexistent/acp-agent-binary', args: [], env: {} }], {}, async (h, client) => {
    const sessionId = h.createSession('ghost', h.project);
    assertFailed(await turn(client, sessionId, 'hello'), /command not found: "\/nonexistent\/acp-agent-binary"/);
    assertFailed(await turn(client, sessionId, 'hello again'), /command not found/);
  });
});

test('an agent that exits at start: its stderr explains, with the key redacted in the frame and the log', async () => {
  await withGateway([testAgent('dies', ['--exit-at-start'])], {}, async (h, client) => {
    const sessionId = h.createSession('dies', h.project);
    const frames = await turn(client, sessionId, 'hello');
    assertFailed(frames, /exited with code 2/);
    const error = String(frames.at(-2)!.content);
    assert.match(error, /fatal: cannot start/);
    assert.match(error, /\[redacted\]/);
    assert.not.match(error, /abcdefghijklmnop/);
    assert.ok(h.logger.lines.some((line) => line.includes('fatal: cannot start')));
    assert.not.ok(h.logger.lines.some((line) => line.includes('abcdefghijklmnop')));
  });
});

test('an agent that never answers initialize: timed out, stopped, one complete', async () => {
  await withGateway([testAgent('slow', ['--slow-init'])], { initializeTimeoutMs: 400 }, async (h, client) => {
    const sessionId = h.createSession('slow', h.project);
    assertFailed(await turn(client, sessionId, 'hello'), /did not answer initialize within 400 ms/);
    await until(() => h.runtime.liveAgents().length === 0, 5000, 'the stuck agent to be stopped');
  });
});

test('non-JSON on stdout, at start or mid-run: an error, one complete; the next run loads the same session in a new process', async () => {
  await withGateway([testAgent('garbage', ['--garbage-at-start']), testAgent('acp')], {}, async (h, client) => {
    const garbage = h.createSession('garbage', h.project);
    assertFailed(await turn(client, garbage, 'hello'), /not JSON: "Welcome to the agent!/);

    const sessionId = h.createSession('acp', h.project);
    const first = whoami(await turn(client, sessionId, 'whoami'));
    const broken = await turn(client, sessionId, 'malformed');
    assertFailed(broken, /not JSON: "oops, this is not JSON"/);
    assert.match(streamed(broken), /about to break the protocol/);
    const next = whoami(await turn(client, sessionId, 'whoami'));
    assert.equal(next.session, first.session);
    assert.equal(next.loaded, 'true');
    assert.is.not(next.pid, first.pid);
  });
});

test('a crash mid-run: what was streamed stays, an error names the exit, one complete; the next run resumes the session', async () => {
  await withGateway([testAgent('acp')], {}, async (h, client) => {
    const sessionId = h.createSession('acp', h.project);
    const first = whoami(await turn(client, sessionId, 'whoami'));
    const crashed = await turn(client, sessionId, 'crash');
    assert.match(streamed(crashed), /about to crash/);
    assertFailed(crashed, /exited with code 3/);
    const next = whoami(await turn(client, sessionId, 'whoami'));
    assert.equal(next.session, first.session);
    assert.equal(next.loaded, 'true');
    assert.is.not(next.pid, first.pid);
    assert.ok(!processExists(Number(first.pid)));
  });
});

test('a line over maxLineBytes: an error, one complete, the agent stopped', async () => {
  await withGateway([testAgent('acp')], { maxLineBytes: 64 * 1024 }, async (h, client) => {
    const sessionId = h.createSession('acp', h.project);
    const frames = await turn(client, sessionId, 'longline 300000');
    assertFailed(frames, /line over 65536 bytes \(maxLineBytes\)/);
    assert.not.ok(frames.some((f) => String(f.content ?? '').length > 64 * 1024));
    // The next run works (a fresh process).
    assert.equal(whoami(await turn(client, sessionId, 'whoami')).loaded, 'true');
  });
});

test('a flood of updates past maxUpdatesPerRun: an error, one complete, the frames bounded', async () => {
  await withGateway([testAgent('acp')], { maxUpdatesPerRun: 200 }, async (h, client) => {
    const sessionId = h.createSession('acp', h.project);
    const frames = await turn(client, sessionId, 'flood 20000', 30_000);
    assertFailed(frames, /more than 200 updates in one turn \(maxUpdatesPerRun\)/);
    assert.ok(frames.filter((f) => f.kind === 'stream_delta').length <= 200);
    assert.equal(whoami(await turn(client, sessionId, 'whoami')).loaded, 'true');
  });
});

test('a flood of permission requests: at most maxOpenPermissionsPerRun are open, the rest cancelled at once', async () => {
  await withGateway([testAgent('acp')], { maxOpenPermissionsPerRun: 4 }, async (h, client) => {
    const sessionId = h.createSession('acp', h.project);
    const frames = await turn(client, sessionId, 'permflood 50', 15_000);
    assert.is(frames.filter((f) => f.kind === 'permission_request').length, 4, 'only the open ones reach clients');
    assert.match(streamed(frames), /cancelled=46/);
    // The four still open when the turn ended are withdrawn with it.
    assert.is(frames.filter((f) => f.kind === 'permission_cancelled').length, 4);
    assert.is(frames.filter((f) => f.kind === 'complete').length, 1);
    const late = await connect(h.url);
    late.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 1 }] });
    const ack = await late.waitFor((f) => f.kind === 'chat_subscribed');
    assert.equal(ack.pendingPermissions, [], 'nothing stays pending in the session');
    await late.close();
  });
});

test('permission requests count against maxUpdatesPerRun: a flood of them ends the run', async () => {
  await withGateway([testAgent('acp')], { maxUpdatesPerRun: 20 }, async (h, client) => {
    const sessionId = h.createSession('acp', h.project);
    const frames = await turn(client, sessionId, 'permflood 500', 15_000);
    assertFailed(frames, /more than 20 updates in one turn \(maxUpdatesPerRun\)/);
    assert.ok(frames.filter((f) => f.kind === 'permission_request').length <= 16);
  });
});

test('abort: session/cancel ends the turn (aborted), nothing after the complete, the process stays', async () => {
  await withGateway([testAgent('acp')], {}, async (h, client) => {
    const sessionId = h.createSession('acp', h.project);
    const first = whoami(await turn(client, sessionId, 'whoami'));
    const from = client.frames.length;
    client.send({ type: 'chat.send', sessionId, content: 'hang' });
    await client.waitFor((f) => f.kind === 'stream_delta', 10_000, from);
    client.send({ type: 'chat.abort', sessionId });
    const complete = await client.waitFor((f) => f.kind === 'complete', 10_000, from);
    assert.equal(complete.aborted, true);
    const next = whoami(await turn(client, sessionId, 'whoami'));
    assert.equal(next.pid, first.pid);
    assert.equal(next.loaded, 'false');
  });
});

test('abort of an agent that ignores session/cancel: killed after cancelGraceMs; the next run resumes in a new process', async () => {
  await withGateway([testAgent('acp')], { cancelGraceMs: 300 }, async (h, client) => {
    const sessionId = h.createSession('acp', h.project);
    const first = whoami(await turn(client, sessionId, 'whoami'));
    const from = client.frames.length;
    client.send({ type: 'chat.send', sessionId, content: 'ignorecancel' });
    await client.waitFor((f) => f.kind === 'stream_delta', 10_000, from);
    client.send({ type: 'chat.abort', sessionId });
    const complete = await client.waitFor((f) => f.kind === 'complete', 10_000, from);
    assert.equal(complete.aborted, true);
    await until(() => !processExists(Number(first.pid)), 5000, 'the agent to be killed');
    const next = whoami(await turn(client, sessionId, 'whoami'));
    assert.equal(next.session, first.session);
    assert.equal(next.loaded, 'true');
  });
});

test('an agent without session/load: the next process starts a new session and says so', async () => {
  await withGateway([testAgent('noload', ['--no-load'])], {}, async (h, client) => {
    const sessionId = h.createSession('noload', h.project);
    const first = whoami(await turn(client, sessionId, 'whoami'));
    await turn(client, sessionId, 'crash');
    const frames = await turn(client, sessionId, 'whoami');
    assert.match(String(frames.find((f) => f.kind === 'status')?.text), /Could not resume the agent's earlier session .*cannot load sessions/);
    const next = whoami(frames);
    assert.is.not(next.session, first.session);
    assert.equal(next.loaded, 'false');
  });
});

test('at most maxAgentProcesses: a busy pool refuses clearly; an idle process makes room', async () => {
  await withGateway([testAgent('acp')], { maxAgentProcesses: 1 }, async (h, client) => {
    const busy = h.createSession('acp', h.project);
    const other = h.createSession('acp', h.project);
    const from = client.frames.length;
    client.send({ type: 'chat.send', sessionId: busy, content: 'hang' });
    await client.waitFor((f) => f.kind === 'stream_delta' && f.sessionId === busy, 10_000, from);
    assertFailed(await turn(client, other, 'whoami'), /Too many agent processes are busy \(1, maxAgentProcesses\)/);
    client.send({ type: 'chat.abort', sessionId: busy });
    await client.waitFor((f) => f.kind === 'complete' && f.sessionId === busy, 10_000, from);
    // The first session's process is idle now: it is stopped to make room.
    assert.equal(whoami(await turn(client, other, 'whoami')).loaded, 'false');
    assert.equal(h.runtime.liveAgents().map((a) => a.appSessionId), [other]);
  });
});

test('an idle agent is stopped after idleStopMs; the next run loads its session', async () => {
  await withGateway([testAgent('acp')], { idleStopMs: 300 }, async (h, client) => {
    const sessionId = h.createSession('acp', h.project);
    const first = whoami(await turn(client, sessionId, 'whoami'));
    await until(() => h.runtime.liveAgents().length === 0, 5000, 'the idle stop');
    await until(() => !processExists(Number(first.pid)), 5000, 'the idle process to exit');
    const next = whoami(await turn(client, sessionId, 'whoami'));
    assert.equal(next.session, first.session);
    assert.equal(next.loaded, 'true');
  });
});

test('after a gateway restart the session resumes with session/load; the replayed history is not forwarded again', async () => {
  let harness = await startAcpHarness([testAgent('acp')]);
  const dir = harness.dir;
  let client = await connect(harness.url);
  const sessionId = harness.createSession('acp', harness.project);
  const first = whoami(await turn(client, sessionId, 'whoami'));
  await turn(client, sessionId, 'stream');
  await client.close();
  await harness.stop();
  assert.ok(!processExists(Number(first.pid)), 'closing the gateway stops its agents');

  harness = await startAcpHarness([testAgent('acp')], {}, dir);
  client = await connect(harness.url);
  try {
    const frames = await turn(client, sessionId, 'whoami');
    const next = whoami(frames);
    assert.equal(next.session, first.session);
    assert.equal(next.loaded, 'true');
    // Only this run's frames: the prompt, the answer, the stream's end, the complete.
    assert.equal(kinds(frames), ['text', 'stream_delta', 'stream_end', 'complete']);
    assert.not.ok(frames.some((f) => /One |stream/.test(String(f.content))), 'no replayed history');
  } finally {
    await client.close();
    await harness.cleanup();
  }
});

test.run();
