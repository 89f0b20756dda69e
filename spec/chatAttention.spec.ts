/**
 * Attention [ours]: a run that asks for approval, or ends, while no socket watches its session
 * is reported to the host (`ChatDeps.onAttention`); standalone, `--notify-url` POSTs it. Real
 * sockets, a real SQLite file, and a real local HTTP server as the notification receiver.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { createAttentionNotifier, redactNotifyUrl } from '../gateway/app/attentionNotifier.js';
import { silentLogger, type Logger } from '../gateway/logger.js';
import type { AttentionEvent } from '../gateway/types.js';
import { connect, createScriptedRuntime, startHarness, until } from './support/chatHarness.js';

const test = suite('chat attention');

test('nobody watching: a permission request and the complete reach onAttention; a watched run does not', async () => {
  const runtime = createScriptedRuntime();
  const seen: AttentionEvent[] = [];
  const h = await startHarness(runtime, { chat: { runtime, onAttention: (event) => seen.push(event) } });
  try {
    const sessionId = h.createSession();
    const sender = await connect(h.url);
    sender.send({ type: 'chat.send', sessionId, content: 'go' });
    const run = await runtime.nextRun();
    run.writer.send({ kind: 'text', content: 'watched' });
    await sender.waitFor((f) => f.kind === 'text');
    assert.equal(seen, [], 'the sender watches: nothing to report');
    // The user closes the tab; the run goes on.
    await sender.close();
    run.writer.send({ kind: 'permission_request', requestId: 'req-9', toolName: 'Bash', input: { command: 'ls' } });
    await until(() => seen.length === 1);
    assert.is(seen[0].type, 'permission_request');
    assert.is(seen[0].sessionId, sessionId);
    assert.is(seen[0].requestId, 'req-9');
    assert.is(seen[0].toolName, 'Bash');
    assert.is(seen[0].seq, 2);
    assert.type(seen[0].timestamp, 'string');
    // A viewer who comes back later still sees the request pending, and answers it.
    const back = await connect(h.url);
    back.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 2 }] });
    const ack = await back.waitFor((f) => f.kind === 'chat_subscribed');
    assert.equal((ack.pendingPermissions as Array<{ requestId: string }>).map((p) => p.requestId), ['req-9']);
    back.send({ type: 'chat.permission-response', requestId: 'req-9', allow: true });
    await until(() => runtime.approvals.length === 1);
    await back.close();
    run.writer.send({ kind: 'complete', exitCode: 0 });
    run.resolve();
    await until(() => seen.length === 2);
    assert.equal(
      { type: seen[1].type, runId: seen[1].runId, exitCode: seen[1].exitCode, success: seen[1].success, aborted: seen[1].aborted },
      { type: 'complete', runId: seen[0].runId, exitCode: 0, success: true, aborted: false },
    );
  } finally {
    await h.cleanup();
  }
});

test('a throwing onAttention is logged and changes nothing for the run', async () => {
  const runtime = createScriptedRuntime();
  const errors: string[] = [];
  const logger: Logger = { ...silentLogger, error: (message) => void errors.push(message) };
  const h = await startHarness(runtime, {
    logger,
    chat: {
      runtime,
      onAttention: () => {
        throw new Error('host bug');
      },
    },
  });
  try {
    const sessionId = h.createSession();
    const sender = await connect(h.url);
    sender.send({ type: 'chat.send', sessionId, content: 'go' });
    const run = await runtime.nextRun();
    await sender.close();
    run.writer.send({ kind: 'complete', exitCode: 0 });
    run.resolve();
    await until(() => errors.includes('onAttention failed'));
    const late = await connect(h.url);
    late.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0, history: true }] });
    await late.waitFor((f) => f.kind === 'complete');
    await late.close();
  } finally {
    await h.cleanup();
  }
});

interface Receiver {
  server: Server;
  url: string;
  bodies: unknown[];
  headers: IncomingMessage['headers'][];
  /** Status codes to answer next, in order (then 204). */
  answers: number[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver = { bodies: [], headers: [], answers: [] } as unknown as Receiver;
  receiver.server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      receiver.headers.push(req.headers);
      receiver.bodies.push(JSON.parse(body));
      res.statusCode = receiver.answers.shift() ?? 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://user:secret@127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hook?key=abc`;
  receiver.close = () => new Promise((resolve) => receiver.server.close(() => resolve()));
  return receiver;
}

const event = (n: number): AttentionEvent => ({ type: 'complete', sessionId: `s${n}`, runId: `r${n}`, seq: n, exitCode: 0, success: true, aborted: false, timestamp: new Date(0).toISOString() });

test('the notifier POSTs the event as JSON, retries a failing receiver, and keeps the URL secret out of the log', async () => {
  const receiver = await startReceiver();
  const warnings: Array<Record<string, unknown> | undefined> = [];
  const logger: Logger = { ...silentLogger, warn: (_message, fields) => void warnings.push(fields) };
  const notifier = createAttentionNotifier({ url: receiver.url, logger, retryBaseMs: 10 });
  try {
    receiver.answers.push(500, 503);
    notifier.notify(event(1));
    notifier.notify(event(2));
    await until(() => receiver.bodies.length === 4);
    assert.equal(receiver.bodies, [event(1), event(1), event(1), event(2)], 'two failures, then delivered; then the next, in order');
    assert.is(receiver.headers[0]['content-type'], 'application/json');
    assert.is(receiver.headers[0].authorization?.startsWith('Basic '), true, 'credentials in the URL are the receiver\'s own');
    assert.is(warnings.length, 2);
    for (const fields of warnings) {
      assert.ok(!JSON.stringify(fields).includes('secret') && !JSON.stringify(fields).includes('key=abc'), 'no secret in the log');
    }
    assert.is(redactNotifyUrl(receiver.url), `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hook`);
  } finally {
    await notifier.close();
    await receiver.close();
  }
});

test('an unreachable receiver is given up after the bounded attempts; the queue is bounded; close() does not wait', async () => {
  const errors: string[] = [];
  const logger: Logger = { ...silentLogger, error: (message) => void errors.push(message) };
  // A port nothing listens on: connection refused at once.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const notifier = createAttentionNotifier({ url: `http://127.0.0.1:${deadPort}/`, logger, retryBaseMs: 5, maxAttempts: 2, maxQueued: 3 });
  for (let n = 0; n < 10; n++) notifier.notify(event(n));
  assert.ok(notifier.pending <= 3, `queue bounded (${notifier.pending})`);
  await until(() => errors.filter((e) => e === 'Gave up notifying --notify-url').length >= 2, 10_000);
  const started = Date.now();
  await notifier.close();
  assert.ok(Date.now() - started < 2000, 'close does not wait for the retries');
  assert.is(notifier.pending, 0);
});


test('the real CLI with --notify-url: a run nobody watches POSTs its approval request and its end', async () => {
  const { startCli } = await import('./support/cliProcess.js');
  const { createCliSession } = await import('./reliability/support/cliSession.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const receiver = await startReceiver();
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-notify-'));
  const cli = await startCli(['--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--demo-pace-ms', '20', '--permission-timeout-ms', '300', '--notify-url', receiver.url]);
  try {
    // The banner's later lines may arrive after the URL and token the start waited for.
    await until(() => cli.stdout().includes('notify:'));
    assert.match(cli.stdout(), /notify: http:\/\/127\.0\.0\.1:\d+\/hook /, 'the banner names the URL without its secrets');
    assert.not.match(cli.output(), /secret|key=abc/);
    const sessionId = await createCliSession(cli, dataDir);
    const client = await connect(cli.url.replace(/^http/, 'ws'), '/ws', cli.token);
    client.send({ type: 'chat.send', sessionId, content: 'list my files' });
    await client.waitFor((f) => f.kind === 'stream_delta');
    await client.close();
    // The demo asks to run a tool, nobody answers (its 300 ms timeout), the run ends.
    await until(() => receiver.bodies.length >= 2, 15_000);
    const [asked, ended] = receiver.bodies as AttentionEvent[];
    assert.is(asked.type, 'permission_request');
    assert.is(asked.sessionId, sessionId);
    assert.type(asked.requestId, 'string');
    assert.is(ended.type, 'complete');
    assert.is(ended.runId, asked.runId);
    assert.ok(ended.seq > asked.seq);
    assert.is(receiver.headers[0].authorization, `Basic ${Buffer.from('user:secret').toString('base64')}`);
    assert.not.match(JSON.stringify(receiver.bodies), new RegExp(cli.token), 'the token is never sent');
  } finally {
    cli.child.kill('SIGTERM');
    await cli.exited;
    await receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
