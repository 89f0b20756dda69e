/**
 * Live inspection: a gateway given `inspect` (createGatewayInspector) sends every actor of its
 * one root to a Stately WebSocket relay (startInspectorBridge); a receiver on the relay
 * (@statelyai/inspect's createWebSocketReceiver, as the inspector UI is fed) sees the
 * registration and the snapshots of a chat run, a shell session and a plugin tunnel, all under
 * one root.
 */
import { request } from 'node:http';

import { createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';

import { createGatewayInspector } from '../gateway/inspect.js';
import { startInspectorBridge } from '../gateway/app/inspectBridge.js';
import type { Scenario } from './scenarios/format.js';
import { runScenario } from './scenarios/runner.js';

/** One chat run, one shell session, one plugin tunnel, each carried through to its end. */
const scenario: Scenario = {
  name: 'one of everything, inspected',
  sessions: { s1: {} },
  gateway: { plugins: { echo: 'up' } },
  upstreams: { up: {} },
  steps: [
    { connect: 'chat' },
    { send: 'chat', frame: { type: 'chat.send', sessionId: 's1', content: 'x' } },
    { runtime: 'r1', start: true },
    { runtime: 'r1', emit: { kind: 'complete', exitCode: 0 } },
    { expect: 'chat', frames: [{ kind: 'complete', seq: 1 }] },
    { runtime: 'r1', resolve: null },
    { connect: 'term', path: '/shell' },
    { send: 'term', frame: { type: 'init', projectPath: '${dir}', isPlainShell: true, initialCommand: 'top' } },
    { pty: 'p1', spawned: true },
    { expect: 'term', frames: [{ type: 'output', data: { $contains: 'Starting terminal in' } }] },
    { connect: 'tunnel', path: '/plugin-ws/echo' },
    { upstream: 'up', awaitConnections: 1, sendText: 'hi' },
    { expect: 'tunnel', frames: [{ text: 'hi' }] },
  ],
};

function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const check = () => {
      if (condition()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 10);
    };
    check();
  });
}

test('the inspector sees @xstate.actor and @xstate.snapshot events of a chat run, a shell session and a plugin tunnel', async () => {
  const bridge = await startInspectorBridge({ port: 0 });
  const seen: StatelyInspectionEvent[] = [];
  const receiver = createWebSocketReceiver({ server: bridge.wsUrl });
  const subscription = receiver.subscribe((event) => void seen.push(event));
  const inspector = createGatewayInspector({ url: bridge.wsUrl });
  try {
    const result = await runScenario(scenario, { inspect: (event) => (inspector.inspect as (e: typeof event) => void)(event) });
    assert.ok(result.ok, result.failure ?? '');

    const actors = () => seen.filter((event): event is Extract<StatelyInspectionEvent, { type: '@xstate.actor' }> => event.type === '@xstate.actor');
    /** An actor is named by its id (`chat:s1`, `tunnel:1`…); its machine is in its definition. */
    const machineOf = (event: { definition?: string }) => {
      try {
        return (JSON.parse(event.definition ?? '{}') as { id?: string }).id;
      } catch {
        return undefined;
      }
    };
    const actorOf = (name: string) => actors().find((event) => machineOf(event) === name);
    const sessionOf = (name: string) => actorOf(name)?.sessionId;
    const snapshotsOf = (name: string) => seen.filter((event) => event.type === '@xstate.snapshot' && event.sessionId === sessionOf(name));
    for (const name of ['gateway', 'chatSession', 'chatRun', 'shellSession', 'pluginTunnel']) {
      await until(() => sessionOf(name) !== undefined && snapshotsOf(name).length > 0, `the ${name} actor and its snapshots`);
    }

    // One inspector sees the whole system: every actor hangs off the one root.
    const root = actorOf('gateway')!;
    assert.is(actorOf('chatSession')!.name, 'chat:s1', 'actors are shown under their gateway ids');
    assert.match(actorOf('pluginTunnel')!.name, /^tunnel:/);
    for (const name of ['chatSession', 'chatRun', 'shellSession', 'pluginTunnel']) {
      const actor = actorOf(name)!;
      assert.is(actor.rootId, root.sessionId, `${name} belongs to the gateway's root`);
    }
    assert.is(actorOf('chatRun')!.parentId, sessionOf('chatSession'), 'a run is shown under its session');
    const run = snapshotsOf('chatRun').map((event) => (event as { snapshot: { value?: unknown } }).snapshot.value);
    assert.ok(run.includes('completed') || run.includes('done'), `the run's states are shown: ${JSON.stringify(run)}`);
    const tunnel = snapshotsOf('pluginTunnel').map((event) => JSON.stringify((event as { snapshot: { value?: unknown } }).snapshot.value));
    assert.ok(tunnel.some((value) => value.includes('open')), `the tunnel's states are shown: ${tunnel.join(' ')}`);
    assert.ok(seen.some((event) => event.type === '@xstate.event' && (event as { event: { type: string } }).event.type === 'client.send'), 'events sent to actors are shown');
  } finally {
    subscription.unsubscribe();
    inspector.stop();
    await bridge.close();
  }
});

test('the bridge serves the inspector page and refuses WebSockets from other sites', async () => {
  const bridge = await startInspectorBridge({ port: 0 });
  try {
    const page = await new Promise<string>((resolve, reject) => {
      request(bridge.pageUrl, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    assert.match(page, /<iframe id="inspector" src="https:\/\/stately\.ai\/inspect">/);
    const status = (origin: string) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(bridge.wsUrl, { headers: { origin } });
        ws.on('open', () => {
          ws.close();
          resolve('open');
        });
        ws.on('unexpected-response', (_request, response) => resolve(String(response.statusCode)));
        ws.on('error', () => {});
      });
    assert.is(await status('http://evil.example'), '401');
    assert.is(await status(new URL(bridge.pageUrl).origin), 'open');
    assert.throws(() => createGatewayInspector({ url: 'http://127.0.0.1:1' }), /ws:\/\//);
  } finally {
    await bridge.close();
  }
});

test.run();
