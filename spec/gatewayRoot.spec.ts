/**
 * The root of the actor system (machines/gatewayRoot.ts) and the scheduler index the host
 * installs (gateway/actorScheduler.ts). Invariants: after a spawn the child is live under its id,
 * found by systemId, and its parent is the root; after a stop, or once the child finished or
 * failed, it is gone and its id can be used again; other children are untouched; stopping the
 * root stops every child. Cost: spawning and stopping N children never copies or scans the
 * other N (issue 13: the machine root copied its children, XState's cancelAll scanned every
 * timer of the system); the figures are in bench/ (`npm run bench -- actors`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, createMachine, type AnyActorRef } from 'xstate';

import { createActorHost } from '../gateway/actorHost.js';
import { indexSchedulerBySource } from '../gateway/actorScheduler.js';
import { createGatewayRootLogic, type GatewayChildKind } from '../machines/gatewayRoot.js';

/** A child that ends or fails when told to, and holds a delayed transition like a real session. */
const stubChild = createMachine({
  id: 'stubChild',
  initial: 'live',
  states: {
    live: {
      after: { 60_000: 'finished' },
      on: {
        'test.finish': 'finished',
        'test.crash': {
          actions: () => {
            throw new Error('child failed');
          },
        },
      },
    },
    finished: { type: 'final' },
  },
});
const kinds: Record<GatewayChildKind, typeof stubChild> = { chatSession: stubChild, shellSession: stubChild, pluginTunnel: stubChild };

function startRoot() {
  const root = createActor(createGatewayRootLogic(kinds));
  indexSchedulerBySource(root.system);
  root.start();
  const spawn = (id: string, kind: GatewayChildKind = 'chatSession') => root.send({ type: 'actor.spawn', kind, id, input: undefined });
  const live = () => [...root.getSnapshot().children.keys()].sort();
  return { root, spawn, live };
}

test('a spawned child is live under its id, found by systemId, and the root is its parent', () => {
  const { root, spawn, live } = startRoot();
  spawn('chat:a');
  spawn('shell:b', 'shellSession');
  spawn('tunnel:1', 'pluginTunnel');
  assert.equal(live(), ['chat:a', 'shell:b', 'tunnel:1']);
  const child = root.system.get('chat:a') as AnyActorRef;
  assert.is(child, root.getSnapshot().children.get('chat:a'));
  assert.is(child.getSnapshot().status, 'active');
  assert.is((child as unknown as { _parent: AnyActorRef })._parent, root);
  root.stop();
});

test('stop, finish and failure each release exactly that child, and its id can be used again', () => {
  const { root, spawn, live } = startRoot();
  for (const id of ['chat:a', 'chat:b', 'chat:c', 'chat:d']) spawn(id);
  const failed = root.system.get('chat:c') as AnyActorRef;
  const errors: unknown[] = [];
  failed.subscribe({ error: (error) => errors.push(error) });

  root.send({ type: 'actor.stop', id: 'chat:a' });
  (root.system.get('chat:b') as AnyActorRef).send({ type: 'test.finish' });
  failed.send({ type: 'test.crash' });
  assert.equal(live(), ['chat:d']);
  assert.is(root.getSnapshot().status, 'active', 'a failing child does not take the root down');
  assert.is(errors.length, 1, 'whoever holds the failed child sees its error');
  for (const id of ['chat:a', 'chat:b', 'chat:c']) assert.is(root.system.get(id), undefined, `${id} is gone from the system`);

  spawn('chat:a');
  assert.equal(live(), ['chat:a', 'chat:d']);
  assert.is((root.system.get('chat:a') as AnyActorRef).getSnapshot().status, 'active');
  root.send({ type: 'actor.stop', id: 'no-such-child' });
  assert.equal(live(), ['chat:a', 'chat:d'], 'stopping an unknown id changes nothing');
  root.stop();
});

test('stopping the root stops every child', () => {
  const { root, spawn } = startRoot();
  spawn('chat:a');
  spawn('shell:b', 'shellSession');
  const children = [root.system.get('chat:a'), root.system.get('shell:b')] as AnyActorRef[];
  root.stop();
  for (const child of children) assert.is(child.getSnapshot().status, 'stopped');
});

test('the host refuses a live id and finds children through the root', () => {
  const host = createActorHost();
  host.start(kinds);
  const child = host.spawn('chatSession', 'chat:x', undefined);
  assert.is(host.get('chat:x'), child);
  assert.throws(() => host.spawn('chatSession', 'chat:x', undefined), /already live/);
  host.stop('chat:x');
  assert.is(host.get('chat:x'), undefined);
  host.shutdown();
});

test('scheduler index: stopping an actor cancels its own timers, visiting none of the others', () => {
  const root = createActor(createGatewayRootLogic(kinds));
  indexSchedulerBySource(root.system);
  root.start();
  // XState keeps every pending delayed event of the system in one record; count what is read.
  const scheduled = (root.system as unknown as { _snapshot: { _scheduledEvents: Record<string, unknown> } })._snapshot;
  const N = 2000;
  for (let i = 0; i < N; i++) root.send({ type: 'actor.spawn', kind: 'chatSession', id: `chat:${i}`, input: undefined });
  assert.is(Object.keys(scheduled._scheduledEvents).length, N, 'one idle timer per child');

  let reads = 0;
  scheduled._scheduledEvents = new Proxy(scheduled._scheduledEvents, {
    ownKeys(target) {
      reads += Object.keys(target).length;
      return Reflect.ownKeys(target);
    },
  });
  for (let i = 0; i < N; i += 2) root.send({ type: 'actor.stop', id: `chat:${i}` });
  assert.is(reads, 0, 'no stop scanned the system-wide timer record');
  assert.is(Object.keys(scheduled._scheduledEvents).length, N / 2, "each stop cancelled its own timer and nobody else's");
  root.stop();
  assert.is(Object.keys(scheduled._scheduledEvents).length, 0);
});

test.run();
