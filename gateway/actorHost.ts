import { createActor, type ActorOptions, type AnyActorLogic, type AnyActorRef, type InspectionEvent, type Observer } from 'xstate';

import { createGatewayRootLogic, type GatewayChildKind, type GatewayRootLogic } from '../machines/gatewayRoot.js';
import { indexSchedulerBySource } from './actorScheduler.js';

/** XState's clock interface (`setTimeout`/`clearTimeout`), e.g. a `SimulatedClock`. */
export type Clock = NonNullable<ActorOptions<AnyActorLogic>['clock']>;

export type Inspector = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/**
 * Owns the gateway's one actor system. Routes are built first (each exposes the provided
 * logic of its child kind), then `start()` creates the root actor with all of them, so every
 * live chat session, shell and tunnel is a child of one root that a single inspector sees
 * and a single clock drives.
 */
export interface ActorHost {
  /** Spawns a child of the root with `id` as both its id and its systemId, and returns it. */
  spawn(kind: GatewayChildKind, id: string, input: unknown): AnyActorRef;
  /** The live child with this id, if any. */
  get(id: string): AnyActorRef | undefined;
  /** Stops and forgets a child. Unknown ids are ignored. */
  stop(id: string): void;
  start(children: Record<GatewayChildKind, AnyActorLogic>): void;
  /** Stops the whole system. */
  shutdown(): void;
  readonly started: boolean;
}

export interface ActorHostOptions {
  clock?: Clock;
  inspect?: Inspector;
}

export function createActorHost(options: ActorHostOptions = {}): ActorHost {
  let root: ReturnType<typeof createActor<GatewayRootLogic>> | null = null;
  const requireRoot = () => {
    if (!root) throw new Error('actorHost: start() has not been called');
    return root;
  };
  return {
    get started() {
      return root !== null;
    },
    start(children) {
      if (root) throw new Error('actorHost: already started');
      root = createActor(createGatewayRootLogic(children), {
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.inspect ? { inspect: options.inspect } : {}),
      });
      indexSchedulerBySource(root.system);
      root.start();
    },
    spawn(kind, id, input) {
      const actor = requireRoot();
      if (actor.system.get(id)) throw new Error(`actorHost: an actor with id "${id}" is already live`);
      actor.send({ type: 'actor.spawn', kind, id, input });
      const child = actor.system.get(id) as AnyActorRef | undefined;
      // The root processes events synchronously unless it is already mid-transition; spawning
      // from inside the root's own processing would be a wiring bug, so it fails loudly.
      if (!child) throw new Error(`actorHost: spawning "${id}" did not produce an actor`);
      return child;
    },
    get(id) {
      return root?.system.get(id) as AnyActorRef | undefined;
    },
    stop(id) {
      root?.send({ type: 'actor.stop', id });
    },
    shutdown() {
      root?.stop();
    },
  };
}
