/**
 * The gateway's root actor under model-based test, with stand-in children of each kind.
 * Invariants: after a spawn the child is live under its id and findable by systemId; after a
 * stop, or once the child finished or failed, it is gone and its id can be used again; children
 * of other ids are untouched.
 */
import { createActor, createMachine, type AnyEventObject } from 'xstate';

import { gatewayMachine, type GatewayChildKind } from '../../machines/gateway.machine.js';
import { invariant, templated as t, type MachineModel, type PathStep, type Snapshot } from './pathCoverage.js';

/** A child that ends, or fails, when told to. */
const stubChild = createMachine({
  id: 'stubChild',
  initial: 'live',
  states: {
    live: {
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
const children = { chatSession: stubChild, shellSession: stubChild, pluginTunnel: stubChild } as never;
const traversal = gatewayMachine.provide({ actors: children });

const IDS: Array<[GatewayChildKind, string]> = [
  ['chatSession', 'chat:s1'],
  ['shellSession', 'shell:k1'],
  ['pluginTunnel', 'tunnel:1'],
];

export const gatewayModel: MachineModel = {
  name: 'gateway',
  machine: gatewayMachine,
  traversal,
  configurations: [{ label: 'default', input: undefined }],

  serializeState: (snapshot) => JSON.stringify([snapshot.value, Object.keys(snapshot.children).sort()]),

  events(snapshot) {
    const events: AnyEventObject[] = [];
    for (const [kind, id] of IDS) {
      const live = id in snapshot.children;
      if (!live) events.push({ type: 'actor.spawn', kind, id, input: { id } });
      events.push({ type: 'actor.stop', id });
      if (live) {
        events.push(t(`finish ${id}`, { type: `xstate.done.actor.${id}`, actorId: id, output: undefined }));
        events.push(t(`crash ${id}`, { type: `xstate.error.actor.${id}`, actorId: id, error: new Error('child failed') }));
      }
    }
    return events;
  },

  async execute(steps: PathStep[], _configuration, inspect) {
    const root = createActor(gatewayMachine.provide({ actors: children }), { inspect });
    root.start();
    for (const step of steps) {
      const before = root.getSnapshot() as Snapshot;
      const { event } = step;
      if (event.type.startsWith('xstate.done.actor.') || event.type.startsWith('xstate.error.actor.')) {
        const id = String(event.actorId);
        invariant(before.children[id], `${id} is live`);
        before.children[id].send({ type: event.type.startsWith('xstate.done') ? 'test.finish' : 'test.crash' });
      } else {
        root.send(event as never);
      }
      const live = root.getSnapshot() as Snapshot;
      const expected = Object.keys(step.state.children).sort();
      invariant(JSON.stringify(Object.keys(live.children).sort()) === JSON.stringify(expected), `children ${Object.keys(live.children)} vs model ${expected}`);
      for (const id of expected) invariant(root.system.get(id) === live.children[id], `${id} is found by its systemId`);
      for (const [, id] of IDS) if (!expected.includes(id)) invariant(root.system.get(id) === undefined, `${id} is gone from the system`);
    }
    root.stop();
  },
};
