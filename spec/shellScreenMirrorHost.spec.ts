/**
 * The screen mirror host with its real worker thread: answers in write order, snapshots equal to
 * an in-process mirror's, shared snapshots, and a worker that dies mid-stream.
 */
import type { Worker } from 'node:worker_threads';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { silentLogger, type Logger } from '../gateway/logger.js';
import { createScreenMirror } from '../gateway/shell/screenMirror.js';
import { createScreenMirrorHost, startScreenMirrorWorker, type AsyncScreenMirror } from '../gateway/shell/screenMirrorHost.js';

const OPTIONS = { cols: 40, rows: 8, scrollback: 50, restoreMaxCells: 500_000 };
const CHUNKS = ['\x1b[31mred\x1b[0m line 1\r\n', 'line 2\r\n\x1b[?1049h', 'alternate screen\r\n\x1b[5;3H', 'x'.repeat(100)];

function hostWithHandle(logger: Logger = silentLogger) {
  let worker: Worker | null = null;
  const host = createScreenMirrorHost({
    logger,
    startWorker: () => {
      worker = startScreenMirrorWorker();
      return worker;
    },
  });
  return { host, worker: () => worker };
}

const snapshotOf = (mirror: AsyncScreenMirror, banner: string) => new Promise<string>((resolve) => mirror.snapshot(banner, resolve));

async function inProcessPayload(chunks: string[], banner: string): Promise<string> {
  const mirror = createScreenMirror(OPTIONS);
  for (const chunk of chunks) mirror.write(chunk);
  const payload = await new Promise<string>((resolve) => mirror.whenParsed(() => resolve(mirror.restorePayload(banner))));
  mirror.dispose();
  return payload;
}

test('a worker mirror answers in write order, and its snapshot equals an in-process mirror’s', async () => {
  const { host } = hostWithHandle();
  const mirror = host.create(OPTIONS);
  assert.is(host.placement, 'worker');
  const order: string[] = [];
  mirror.write(CHUNKS[0], () => order.push('parsed 0'));
  mirror.write(CHUNKS[1], () => order.push('parsed 1'));
  const first = snapshotOf(mirror, 'B1\r\n').then((payload) => {
    order.push('snapshot 1');
    return payload;
  });
  mirror.write(CHUNKS[2]);
  mirror.write(CHUNKS[3], () => order.push('parsed 3'));
  mirror.whenParsed(() => order.push('all parsed'));
  const payload = await first;
  await new Promise<void>((resolve) => mirror.whenParsed(resolve));
  assert.equal(order, ['parsed 0', 'parsed 1', 'snapshot 1', 'parsed 3', 'all parsed']);
  assert.is(payload, await inProcessPayload(CHUNKS.slice(0, 2), 'B1\r\n'));
  const later = await snapshotOf(mirror, '');
  assert.is(later, await inProcessPayload(CHUNKS, ''));
  mirror.dispose();
  await host.close();
});

test('snapshots asked for while one is on its way share it, each with its own banner', async () => {
  const { host } = hostWithHandle();
  const mirror = host.create(OPTIONS);
  mirror.write(CHUNKS[0]);
  const a = snapshotOf(mirror, 'A\r\n');
  mirror.write(CHUNKS[1]);
  const b = snapshotOf(mirror, 'B\r\n');
  const [payloadA, payloadB] = await Promise.all([a, b]);
  assert.is(payloadA, await inProcessPayload(CHUNKS.slice(0, 1), 'A\r\n'));
  assert.is(payloadB, await inProcessPayload(CHUNKS.slice(0, 1), 'B\r\n'), 'the shared snapshot is of the first request');
  mirror.dispose();
  await host.close();
});

test('a worker that dies: every waiting callback still runs, in order, and mirrors carry on in process', async () => {
  const errors: string[] = [];
  const logger: Logger = { ...silentLogger, error: (message) => void errors.push(message) };
  const { host, worker } = hostWithHandle(logger);
  const mirror = host.create(OPTIONS);
  const order: string[] = [];
  // Enough output that some of it is still unparsed when the worker goes.
  for (let i = 0; i < 200; i++) mirror.write(`line ${i} ${'y'.repeat(30)}\r\n`, () => order.push(`parsed ${i}`));
  const snapshot = snapshotOf(mirror, '').then(() => order.push('snapshot'));
  await worker()!.terminate();
  await snapshot;
  assert.is(order.length, 201);
  assert.equal(order.slice(0, 200), Array.from({ length: 200 }, (_, i) => `parsed ${i}`));
  assert.is(host.placement, 'in-process');
  assert.is(errors.length, 1, 'logged once');
  mirror.write('after\r\n');
  const after = await snapshotOf(mirror, '');
  assert.ok(after.includes('after'), 'the in-process mirror keeps mirroring');
  const fresh = host.create(OPTIONS);
  fresh.write('fresh\r\n');
  assert.ok((await snapshotOf(fresh, '')).includes('fresh'));
  fresh.dispose();
  mirror.dispose();
  await host.close();
});

test('in-process placement never starts a worker', async () => {
  let started = 0;
  const host = createScreenMirrorHost({
    logger: silentLogger,
    placement: 'in-process',
    startWorker: () => {
      started++;
      return startScreenMirrorWorker();
    },
  });
  const mirror = host.create(OPTIONS);
  mirror.write(CHUNKS[0]);
  assert.is(await snapshotOf(mirror, ''), await inProcessPayload(CHUNKS.slice(0, 1), ''));
  assert.is(started, 0);
  mirror.dispose();
  await host.close();
});

test.run();
