/**
 * What an ACP agent asks of us, end to end over /ws with a real agent process: permissions
 * (allow, deny, an option by id, listed on subscribe, withdrawn on abort and when the agent exits),
 * fs reads and writes confined to the project path, and a terminal in a real PTY.
 */
import { mkdirSync, mkdtempSync, readFileSync, existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { startAcpHarness, testAgent, turn, kinds, streamed, type AcpHarness } from './support/acpHarness.js';
import { connect, type Frame, type TestClient } from './support/chatHarness.js';

let harness: AcpHarness;
let client: TestClient;
let sessionId: string;
let outside: string;

test.before(async () => {
  harness = await startAcpHarness([testAgent('acp')]);
  client = await connect(harness.url);
  sessionId = harness.createSession('acp', harness.project);
  outside = mkdtempSync(join(tmpdir(), 'ag-acp-outside-'));
  writeFileSync(join(outside, 'secret.txt'), 'TOP SECRET');
  writeFileSync(join(harness.dir, 'sibling-secret.txt'), 'SIBLING SECRET');
  writeFileSync(join(harness.project, 'notes.txt'), 'hello notes');
  symlinkSync(join(outside, 'secret.txt'), join(harness.project, 'escape-link'));
  symlinkSync(outside, join(harness.project, 'escape-dir'));
  symlinkSync(join(harness.project, 'notes.txt'), join(harness.project, 'inside-link'));
});

test.after(async () => {
  await client.close();
  await harness.cleanup();
});

/** Starts the `permission` script and resolves with its permission_request frame. */
async function askPermission(on: TestClient, prompt = 'permission'): Promise<{ request: Frame; from: number }> {
  const from = on.frames.length;
  on.send({ type: 'chat.send', sessionId, content: prompt });
  const request = await on.waitFor((f) => f.kind === 'permission_request', 10_000, from);
  return { request, from };
}

async function completion(on: TestClient, from: number): Promise<Frame[]> {
  await on.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 10_000, from);
  return on.frames.slice(from).filter((f) => f.sessionId === sessionId && typeof f.seq === 'number');
}

test('permission_request carries the tool and the agent options; allow: true picks the one-time allow', async () => {
  const { request, from } = await askPermission(client);
  assert.equal(request.toolName, 'Run rm -rf build');
  assert.equal(request.toolId, 'call_perm_1');
  assert.equal(request.input, { command: 'rm -rf build' });
  assert.equal(
    (request.options as Array<Record<string, unknown>>).map((o) => [o.optionId, o.kind]),
    [['opt-allow', 'allow_once'], ['opt-always', 'allow_always'], ['opt-reject', 'reject_once']],
  );
  client.send({ type: 'chat.permission-response', requestId: request.requestId, allow: true });
  const frames = await completion(client, from);
  assert.match(streamed(frames), /outcome=opt-allow/);
  const result = frames.find((f) => f.kind === 'tool_result');
  assert.equal(result?.isError, false);
  assert.equal(frames.at(-1)!.success, true);
});

test('allow: false picks the one-time reject option; the tool result is an error', async () => {
  const { request, from } = await askPermission(client);
  client.send({ type: 'chat.permission-response', requestId: request.requestId, allow: false, message: 'no thanks' });
  const frames = await completion(client, from);
  assert.match(streamed(frames), /outcome=opt-reject/);
  assert.equal(frames.find((f) => f.kind === 'tool_result')?.isError, true);
});

test('an optionId picks that option ("allow always"), whatever allow says', async () => {
  const { request, from } = await askPermission(client);
  client.send({ type: 'chat.permission-response', requestId: request.requestId, allow: false, optionId: 'opt-always' });
  const frames = await completion(client, from);
  assert.match(streamed(frames), /outcome=opt-always/);
});

test('a pending request is listed in pendingPermissions on subscribe, with its options', async () => {
  const { request, from } = await askPermission(client);
  const late = await connect(harness.url);
  late.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  const ack = await late.waitFor((f) => f.kind === 'chat_subscribed');
  const pending = ack.pendingPermissions as Array<Record<string, unknown>>;
  assert.equal(pending.length, 1);
  assert.equal(pending[0].requestId, request.requestId);
  assert.equal(pending[0].toolName, 'Run rm -rf build');
  assert.equal((pending[0].options as unknown[]).length, 3);
  // Answered from the second socket.
  late.send({ type: 'chat.permission-response', requestId: request.requestId, allow: true });
  await completion(client, from);
  await late.close();
});

test('abort withdraws a pending request (permission_cancelled), the turn ends aborted, the process stays', async () => {
  const before = streamed(await turn(client, sessionId, 'whoami'));
  const { request, from } = await askPermission(client);
  client.send({ type: 'chat.abort', sessionId });
  const frames = await completion(client, from);
  const cancelled = frames.find((f) => f.kind === 'permission_cancelled');
  assert.equal(cancelled?.requestId, request.requestId);
  assert.ok(frames.indexOf(cancelled!) < frames.length - 1);
  assert.equal(frames.at(-1)!.aborted, true);
  assert.equal(frames.filter((f) => f.kind === 'complete').length, 1);
  assert.equal(harness.runtime.getPendingApprovalsForSession(sessionId), []);
  // The same agent process serves the next turn.
  const after = streamed(await turn(client, sessionId, 'whoami'));
  assert.equal(/pid=(\d+)/.exec(after)?.[1], /pid=(\d+)/.exec(before)?.[1]);
});

test('the agent exiting while a request is pending: permission_cancelled, an error, one complete', async () => {
  const { request, from } = await askPermission(client, 'permcrash');
  const frames = await completion(client, from);
  const order = kinds(frames);
  assert.ok(frames.some((f) => f.kind === 'permission_cancelled' && f.requestId === request.requestId));
  assert.ok(order.indexOf('permission_cancelled') < order.indexOf('error'));
  assert.match(String(frames.find((f) => f.kind === 'error')?.content), /exited with code 4/);
  assert.equal(order.at(-1), 'complete');
  assert.equal(harness.runtime.getPendingApprovalsForSession(sessionId), []);
});

test('fs reads inside the project work, by absolute and relative path and through an inside symlink', async () => {
  assert.match(streamed(await turn(client, sessionId, `read ${join(harness.project, 'notes.txt')}`)), /^read ok: hello notes$/);
  assert.match(streamed(await turn(client, sessionId, 'read notes.txt')), /^read ok: hello notes$/);
  assert.match(streamed(await turn(client, sessionId, `read ${join(harness.project, 'inside-link')}`)), /^read ok: hello notes$/);
});

test('an agent that asks for many large reads and stops reading its stdin gets one answer at a time, the rest refused', async () => {
  // 4 MiB: far more than a pipe holds, so the first answer alone fills it.
  writeFileSync(join(harness.project, 'big.txt'), 'x'.repeat(4 * 1024 * 1024));
  const text = streamed(await turn(client, sessionId, 'readflood 40 big.txt', 30_000));
  const [, ok, refused] = /ok=(\d+) refused=(\d+)/.exec(text) ?? [];
  assert.is(Number(ok) + Number(refused), 40, text);
  assert.ok(Number(ok) >= 1 && Number(ok) <= 2, `answered ${ok} of 40 while the agent was not reading`);
  // Reading again, it is answered again.
  assert.match(streamed(await turn(client, sessionId, 'read notes.txt')), /^read ok: hello notes$/);
});

test('fs reads outside the project are refused: absolute, "..", symlinked file, symlinked directory', async () => {
  const cases: Array<[string, RegExp]> = [
    [join(outside, 'secret.txt'), /outside the session's project/],
    ['/etc/passwd', /outside the session's project/],
    [`${harness.project}/../sibling-secret.txt`, /must not contain ".."/],
    [join(harness.dir, 'sibling-secret.txt'), /outside the session's project/],
    ['../sibling-secret.txt', /must not contain ".."/],
    [join(harness.project, 'escape-link'), /symlink/],
    [join(harness.project, 'escape-dir', 'secret.txt'), /symlink/],
  ];
  for (const [path, why] of cases) {
    const answer = streamed(await turn(client, sessionId, `read ${path}`));
    assert.match(answer, /^read error: /, path);
    assert.match(answer, why, path);
    assert.not.match(answer, /SECRET/);
  }
});

test('fs writes inside the project create the file (and its directory); writes that escape are refused', async () => {
  assert.equal(streamed(await turn(client, sessionId, `write ${join(harness.project, 'sub', 'new.txt')} written by the agent`)), 'write ok');
  assert.equal(readFileSync(join(harness.project, 'sub', 'new.txt'), 'utf8'), 'written by the agent');
  const escaped = streamed(await turn(client, sessionId, `write ${join(harness.project, 'escape-dir', 'planted.txt')} gotcha`));
  assert.match(escaped, /^write error: .*symlink/);
  assert.not.ok(existsSync(join(outside, 'planted.txt')));
  const absolute = streamed(await turn(client, sessionId, `write ${join(outside, 'planted2.txt')} gotcha`));
  assert.match(absolute, /^write error: .*outside/);
  assert.not.ok(existsSync(join(outside, 'planted2.txt')));
});

test('a terminal runs in a real PTY in the project path; its output reaches the agent and the tool result', async () => {
  mkdirSync(join(harness.project, 'marker-dir'), { recursive: true });
  const frames = await turn(client, sessionId, 'terminal echo hi-from-pty && ls');
  const answer = streamed(frames);
  assert.match(answer, /^exit=0 output=/);
  assert.match(answer, /hi-from-pty/);
  assert.match(answer, /marker-dir/);
  const result = frames.find((f) => f.kind === 'tool_result' && f.toolId === 'call_term_1');
  assert.match(String(result?.content), /hi-from-pty/);
  const failing = streamed(await turn(client, sessionId, 'terminal exit 7'));
  assert.match(failing, /^exit=7 /);
});

test.run();
