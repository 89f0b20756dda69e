/**
 * [cluster] `/shell` PTYs are node-local: the shell route claims each PTY's key in the cluster's
 * registry while the PTY lives here, drops it when it is gone, and answers an `init` for a key
 * another node holds with `SHELL_ON_OTHER_NODE` instead of starting a second PTY. A registry that
 * cannot be asked does not keep a terminal from opening. The registry here is an in-memory fake
 * (the Redis one is exercised end to end by spec/standaloneCluster.spec.ts).
 */
import * as assert from 'uvu/assert';

import { SHELL_ERRORS } from '../machines/protocolCodes.js';
import type { ShellRegistry } from '../persistence/cluster/types.js';
import { SHELL_HOLDER_LOOKUP_TIMEOUT_MS } from '../gateway/shell/shellRoute.js';
import { eventually, shellSuite } from './support/shellHarness.js';

const BARE_BASH = "PS1='$ ' exec bash --norc --noprofile";
const DETACH_TIMEOUT = 30 * 60 * 1000;
const NODE = 'node-a';

/** A registry shared by "nodes": `holders` maps key → node; `mode` makes `holder` fail or hang. */
function fakeRegistry() {
  const holders = new Map<string, string>();
  const calls: string[] = [];
  const state = { mode: 'ok' as 'ok' | 'fail' | 'hang' };
  const shells: ShellRegistry = {
    async claim(key) {
      calls.push('claim');
      holders.set(key, NODE);
    },
    async drop(key) {
      calls.push('drop');
      if (holders.get(key) === NODE) holders.delete(key);
    },
    holder(key) {
      calls.push('holder');
      if (state.mode === 'fail') return Promise.reject(new Error('Connection is closed.'));
      if (state.mode === 'hang') return new Promise<string | null>(() => undefined);
      return Promise.resolve(holders.get(key) ?? null);
    },
  };
  return { shells, holders, calls, state };
}

const registry = fakeRegistry();
const warnings: string[] = [];
const logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => warnings.push(message),
  error: () => undefined,
};
const test = shellSuite('shell route in a cluster', { cluster: { nodeId: NODE, shells: registry.shells }, logger });

test.before.each(() => {
  registry.calls.length = 0;
  registry.state.mode = 'ok';
  warnings.length = 0;
});

const plain = (dir: string, tag: string) => ({ projectPath: dir, isPlainShell: true, initialCommand: `${BARE_BASH} # ${tag}` });

type Harness = Parameters<Parameters<typeof test>[1]>[0]['harness'];
const keys = (harness: Harness) => new Set(harness.route.listActors().map((summary) => summary.key));
/** The key of the one PTY that is live now and was not in `before`. */
function newKey(harness: Harness, before: Set<string>): string {
  const added = [...keys(harness)].filter((key) => !before.has(key));
  assert.is(added.length, 1, 'one new PTY');
  return added[0];
}

/** Starts a PTY for `tag`, lets it go (the detach timeout) and waits until it is gone and dropped; its key. */
async function startedAndDropped(harness: Harness, dir: string, tag: string): Promise<string> {
  const before = keys(harness);
  const client = await harness.connect();
  client.init(plain(dir, tag));
  await client.waitForOutput('$ ');
  const key = newKey(harness, before);
  await client.close();
  harness.clock.increment(DETACH_TIMEOUT);
  await eventually(() => !harness.route.listActors().some((summary) => summary.key === key), 'the PTY gone');
  await eventually(() => !registry.holders.has(key), 'its drop');
  return key;
}

test('a PTY started here is claimed under its key and dropped when it is gone', async ({ harness, dir }) => {
  const before = keys(harness);
  const client = await harness.connect();
  client.init(plain(dir, 'claimed'));
  await client.waitForOutput('$ ');
  const actor = { key: newKey(harness, before) };
  await eventually(() => registry.holders.get(actor.key) === NODE, 'the claim');
  assert.equal(registry.calls, ['holder', 'claim'], 'asked first, then claimed');

  // A reconnect to the live PTY asks nobody: it is here.
  const again = await harness.connect();
  again.init(plain(dir, 'claimed'));
  await again.waitForOutput('[Reconnected to existing session]');
  assert.equal(registry.calls, ['holder', 'claim']);

  await client.close();
  await again.close();
  await eventually(() => harness.route.listActors().find((summary) => summary.key === actor.key)?.state === 'detached', 'detached');
  assert.ok(registry.holders.has(actor.key), 'a detached PTY is still held');
  harness.clock.increment(DETACH_TIMEOUT);
  await eventually(() => !registry.holders.has(actor.key), 'the drop');
  assert.equal(registry.calls, ['holder', 'claim', 'drop']);
});

test('a restart drops the old PTY and claims the fresh one, in that order', async ({ harness, dir }) => {
  const before = keys(harness);
  const client = await harness.connect();
  client.init(plain(dir, 'restart'));
  await client.waitForOutput('$ ');
  const key = newKey(harness, before);
  await eventually(() => registry.calls.includes('claim'), 'the first claim');
  client.init({ ...plain(dir, 'restart'), forceRestart: true });
  await eventually(() => registry.calls.length >= 4, 'the restart');
  // The key is held here: the restart asks nobody.
  assert.equal(registry.calls, ['holder', 'claim', 'drop', 'claim']);
  assert.is(registry.holders.get(key), NODE, 'the fresh PTY is claimed');
  await client.close();
});

test('an init for a key another node holds gets SHELL_ON_OTHER_NODE naming it, and starts nothing', async ({ harness, dir }) => {
  // Learn the key this init maps to from a PTY started here, then hand it to "node-b".
  const key = await startedAndDropped(harness, dir, 'elsewhere');
  registry.holders.set(key, 'node-b');
  const before = harness.route.listActors().length;

  for (const forceRestart of [false, true]) {
    const client = await harness.connect();
    client.init({ ...plain(dir, 'elsewhere'), forceRestart });
    const frame = (await client.waitForFrame('error')) as { type: 'error'; message: string; code?: string; nodeId?: string };
    assert.equal(frame, { type: 'error', message: `${SHELL_ERRORS.SHELL_ON_OTHER_NODE}: node-b`, code: 'SHELL_ON_OTHER_NODE', nodeId: 'node-b' });
    assert.is(client.ws.readyState, client.ws.OPEN, 'the socket stays open (the client may init another key)');
    assert.is(harness.route.listActors().length, before, 'no PTY was started');
    assert.not.ok(client.output.includes('Starting terminal'), 'no welcome line');
    await client.close();
  }
  assert.is(registry.holders.get(key), 'node-b', 'the other node keeps its claim');
  registry.holders.delete(key);
});

test("a claim in this node's own name with no PTY here (left from before a restart) starts afresh", async ({ harness, dir }) => {
  const key = await startedAndDropped(harness, dir, 'own');
  registry.holders.set(key, NODE);
  const again = await harness.connect();
  again.init(plain(dir, 'own'));
  await again.waitForOutput('$ ');
  assert.not.ok(again.output.includes('[Reconnected'), 'a fresh PTY');
  await again.close();
});

test('a registry that fails or does not answer: the terminal starts here, with a warning', async ({ harness, dir }) => {
  for (const mode of ['fail', 'hang'] as const) {
    registry.state.mode = mode;
    warnings.length = 0;
    const started = Date.now();
    const client = await harness.connect();
    client.init(plain(dir, `down-${mode}`));
    await client.waitForOutput('$ ', SHELL_HOLDER_LOOKUP_TIMEOUT_MS + 5000);
    if (mode === 'hang') assert.ok(Date.now() - started >= SHELL_HOLDER_LOOKUP_TIMEOUT_MS - 50, 'waited for the lookup bound');
    assert.ok(
      warnings.some((warning) => warning.includes('could not ask the cluster which node holds the terminal')),
      `warned (${mode}): ${JSON.stringify(warnings)}`,
    );
    await client.close();
  }
});

test.run();
