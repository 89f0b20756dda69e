/**
 * The ACP runtime end to end: a real gateway over real sockets, the real ACP runtime, and a real
 * ACP agent process (spec/support/acpAgent/agent.mjs, the SDK's agent side) scripted per prompt.
 * Mapping of every update kind, the run's framing (user prompt first, exactly one complete last),
 * and the stop reasons.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { startAcpHarness, testAgent, turn, kinds, streamed, type AcpHarness } from './support/acpHarness.js';
import { connect, type TestClient } from './support/chatHarness.js';

let harness: AcpHarness;
let client: TestClient;
let sessionId: string;

test.before(async () => {
  harness = await startAcpHarness([testAgent('acp')]);
  client = await connect(harness.url);
  sessionId = harness.createSession('acp', harness.project);
});

test.after(async () => {
  await client.close();
  await harness.cleanup();
});

test('a streamed answer: the prompt first, a thought, deltas then stream_end, usage as status, one complete last', async () => {
  const frames = await turn(client, sessionId, 'stream please');
  assert.equal(frames[0].kind, 'text');
  assert.equal(frames[0].role, 'user');
  assert.equal(frames[0].content, 'stream please');
  assert.equal(frames.at(-1)!.kind, 'complete');
  assert.equal(frames.filter((f) => f.kind === 'complete').length, 1);
  assert.equal(frames.at(-1)!.success, true);
  assert.equal(frames.at(-1)!.exitCode, 0);
  const thinking = frames.find((f) => f.kind === 'thinking');
  assert.equal(thinking?.content, 'Thinking about the answer.');
  assert.equal(streamed(frames), 'One two three four five.');
  const status = frames.find((f) => f.kind === 'status' && typeof f.tokens === 'object');
  assert.equal(status?.tokens, { used: 1234, total: 200000 });
  // The stream is closed before the complete.
  const order = kinds(frames);
  assert.ok(order.lastIndexOf('stream_end') > order.lastIndexOf('stream_delta'));
  assert.ok(order.lastIndexOf('stream_end') < order.indexOf('complete'));
  // Every frame names the provider and the app session.
  for (const frame of frames) assert.equal(frame.sessionId, sessionId);
  assert.ok(frames.slice(1).every((f) => f.provider === 'acp'));
});

test('the ACP session id is announced and stored as the provider session id', async () => {
  const frames = await turn(client, sessionId, 'whoami');
  const answer = streamed(frames);
  const acpId = /session=(\S+)/.exec(answer)?.[1];
  assert.ok(acpId && acpId.startsWith('sess_'), answer);
  // Stored as the session's provider id: the gateway broadcasts the mapping.
  const upserted = client.frames.find((f) => f.kind === 'session_upserted' && f.sessionId === sessionId);
  assert.is(upserted?.providerSessionId, acpId);
  // The same process serves the next turn of the session (turns counts up, pid stays).
  const again = streamed(await turn(client, sessionId, 'whoami'));
  assert.equal(/session=(\S+)/.exec(again)?.[1], acpId);
  assert.equal(/pid=(\d+)/.exec(again)?.[1], /pid=(\d+)/.exec(answer)?.[1]);
});

test('tool calls: tool_use with toolName/toolInput/toolId, tool_result with the diff kept, failures as isError, plan', async () => {
  const frames = await turn(client, sessionId, 'tool');
  const plan = frames.find((f) => f.kind === 'plan');
  assert.equal(plan?.entries, [{ content: 'Edit the readme', priority: 'high', status: 'in_progress' }]);
  const uses = frames.filter((f) => f.kind === 'tool_use');
  assert.equal(uses.length, 2);
  assert.equal(uses[0].toolName, 'Edit README.md');
  assert.equal(uses[0].toolId, 'call_edit_1');
  assert.equal(uses[0].toolInput, { file_path: 'README.md', old_string: 'old', new_string: 'new' });
  const results = frames.filter((f) => f.kind === 'tool_result');
  assert.equal(results.length, 2);
  const edit = results.find((f) => f.toolId === 'call_edit_1')!;
  assert.equal(edit.isError, false);
  assert.equal(edit.toolResult, { content: edit.content, isError: false });
  const diffs = edit.diffs as Array<Record<string, unknown>>;
  assert.equal(diffs.length, 1);
  assert.ok(String(diffs[0].path).endsWith('README.md'));
  assert.equal(diffs[0].oldText, 'old line\n');
  assert.equal(diffs[0].newText, 'new line\n');
  const failed = results.find((f) => f.toolId === 'call_bad_2')!;
  assert.equal(failed.isError, true);
  assert.equal(failed.toolResult, { content: '2 tests failed', isError: true });
  // The in-progress update is passed through, not dropped.
  assert.ok(frames.some((f) => f.kind === 'acp_update' && f.sessionUpdate === 'tool_call_update'));
  assert.equal(frames.at(-1)!.kind, 'complete');
});

test('an update kind nobody knows is passed through as acp_update', async () => {
  const frames = await turn(client, sessionId, 'unknown');
  const passed = frames.find((f) => f.kind === 'acp_update' && f.sessionUpdate === 'hologram_update');
  assert.equal((passed?.update as Record<string, unknown>).beam, 42);
});

test('refusal and max_tokens end with success false and the reason', async () => {
  for (const reason of ['refusal', 'max_tokens']) {
    const frames = await turn(client, sessionId, reason);
    const complete = frames.at(-1)!;
    assert.equal(complete.kind, 'complete');
    assert.equal(complete.success, false);
    assert.equal(complete.reason, reason);
    assert.equal(complete.aborted, false);
  }
});

test('a prompt the agent answers with a JSON-RPC error: an error frame with its message, one complete', async () => {
  const frames = await turn(client, sessionId, 'fail');
  const error = frames.find((f) => f.kind === 'error');
  assert.match(String(error?.content), /Authentication required/);
  assert.equal(frames.filter((f) => f.kind === 'complete').length, 1);
  assert.equal(frames.at(-1)!.kind, 'complete');
  assert.equal(frames.at(-1)!.exitCode, 1);
});

test('updates the agent sends after its answer never follow the complete: it stays the last frame', async () => {
  const frames = await turn(client, sessionId, 'late');
  assert.equal(frames.at(-1)!.kind, 'complete');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const after = client.frames.filter((f) => f.sessionId === sessionId && typeof f.seq === 'number' && (f.seq as number) > (frames.at(-1)!.seq as number));
  assert.equal(after, []);
  // Usually dropped outright. When the answer and the late update reach the gateway in one read
  // (a loaded machine), the SDK may hand over the update before the answer's continuation runs:
  // then it is forwarded before the complete, never after it.
  const late = client.frames.findIndex((f) => f.content === 'LATE CHUNK');
  const complete = client.frames.indexOf(frames.at(-1)!);
  assert.ok(late === -1 || late < complete, 'a late update is never after the complete');
});

test('a session whose project path does not exist fails with a clear error and one complete', async () => {
  const missing = harness.createSession('acp', `${harness.project}/does-not-exist`);
  const frames = await turn(client, missing, 'stream');
  assert.match(String(frames.find((f) => f.kind === 'error')?.content), /project path is not a directory/);
  assert.equal(kinds(frames), ['text', 'error', 'complete']);
});

test.run();
