/**
 * The one table of close codes and error codes (machines/protocolCodes.ts): every code is one a
 * WebSocket may send, the names the package has always exported keep their numbers, the modules
 * that used to hold codes read them from the table, the ES module served to the playground is
 * the same table, and no close code is written as a bare number in gateway/ or machines/.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket, WebSocketServer } from 'ws';

import { PLUGIN_CLOSE } from '../machines/pluginTunnel.closeCodes.js';
import { PROTOCOL_ERRORS, protocolError } from '../machines/protocolErrors.js';
import {
  CLOSE,
  CLOSE_CODES,
  ERROR_CODES,
  PRIVATE_USE_CLOSE_CODES,
  protocolCodesModuleSource,
  SHELL_ERRORS,
} from '../machines/protocolCodes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

test('every close in the table reaches a real peer as written (ws refuses codes that cannot be sent)', async () => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    for (const [name, { code, reason }] of Object.entries(CLOSE)) {
      server.once('connection', (ws) => ws.close(code, reason));
      const client = new WebSocket(url);
      const seen = await new Promise<{ code: number; reason: string }>((resolve) =>
        client.once('close', (got, why) => resolve({ code: got, reason: why.toString('utf8') })),
      );
      assert.equal(seen, { code, reason }, name);
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  const ours = Object.values(CLOSE).filter(({ code }) => code >= PRIVATE_USE_CLOSE_CODES.first);
  assert.ok(ours.length > 0 && ours.every(({ code }) => code <= PRIVATE_USE_CLOSE_CODES.last));
});

test('the close codes the package has always exported keep their names and numbers', () => {
  for (const [name, code] of Object.entries({ SERVER_SHUTTING_DOWN: 1001, RATE_LIMIT: 1008, FRAME_TOO_LARGE: 1009, TOKEN_EXPIRED: 4401, UNKNOWN_PATH: 4404 })) {
    assert.is(CLOSE_CODES[name as keyof typeof CLOSE_CODES], code, name);
  }
  assert.equal(Object.keys(CLOSE_CODES), Object.keys(CLOSE));
  for (const [name, entry] of Object.entries(CLOSE)) assert.is(CLOSE_CODES[name as keyof typeof CLOSE_CODES], entry.code);
});

test('the modules that held codes before read them from the table', () => {
  assert.is(PROTOCOL_ERRORS, ERROR_CODES);
  assert.equal(protocolError('NO_ACTIVE_RUN', 's1'), { kind: 'protocol_error', code: 'NO_ACTIVE_RUN', error: ERROR_CODES.NO_ACTIVE_RUN, sessionId: 's1' });
  const tableEntries = new Set<object>(Object.values(CLOSE));
  for (const [name, entry] of Object.entries(PLUGIN_CLOSE)) assert.ok(tableEntries.has(entry), `PLUGIN_CLOSE.${name} is a row of CLOSE`);
});

test('the ES module served to the playground is the same table', async () => {
  const source = protocolCodesModuleSource();
  const served = (await import(`data:text/javascript,${encodeURIComponent(source)}`)) as Record<string, unknown>;
  assert.equal(served.CLOSE_CODES, CLOSE_CODES);
  assert.equal(served.CLOSE, CLOSE);
  assert.equal(served.ERROR_CODES, ERROR_CODES);
  assert.equal(served.SHELL_ERRORS, SHELL_ERRORS);
  // Data only: nothing but `export const NAME = <JSON>;` lines (and one comment).
  for (const line of source.trim().split('\n')) assert.match(line, /^(\/\/ .*|export const [A-Z_]+ = [{[].*;)$/);
});

// ---- no bare close codes ----

/** `.close(1008, …)`, `.close(CODE, 'Reason')`, `.close(4401)`: a close whose code or reason is written out. */
const LITERAL_CLOSE = /\.close\(\s*(?:\d{4}\b|[^,()]+,\s*['"`])/;

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return tsFiles(full);
    return name.endsWith('.ts') ? [path.relative(ROOT, full).split(path.sep).join('/')] : [];
  });
}

test('gateway/ and machines/ close sockets with codes and reasons from the table', () => {
  const files = ['gateway', 'machines'].flatMap((dir) => tsFiles(path.join(ROOT, dir)));
  assert.ok(files.length > 50);
  const literal = files.filter((file) => LITERAL_CLOSE.test(readFileSync(path.join(ROOT, file), 'utf8')));
  assert.equal(literal, [], 'use CLOSE.<NAME>.code and CLOSE.<NAME>.reason');
});

test('the literal-close check catches what it must', () => {
  assert.ok(LITERAL_CLOSE.test("ws.close(1001, 'Server shutting down');"));
  assert.ok(LITERAL_CLOSE.test("ws.close(CLOSE_CODES.RATE_LIMIT, 'Rate limit');"));
  assert.ok(LITERAL_CLOSE.test('ws.close(4401);'));
  assert.not.ok(LITERAL_CLOSE.test('ws.close(CLOSE.RATE_LIMIT.code, CLOSE.RATE_LIMIT.reason);'));
  assert.not.ok(LITERAL_CLOSE.test('connection.close(CLOSE.SERVER_SHUTTING_DOWN);'));
  assert.not.ok(LITERAL_CLOSE.test('log.close();'));
});

test.run();
