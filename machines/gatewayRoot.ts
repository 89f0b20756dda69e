import {
  createActor,
  type ActorLogic,
  type AnyActorLogic,
  type AnyActorRef,
  type DoneActorEvent,
  type ErrorActorEvent,
} from 'xstate';

/**
 * The root of the gateway's actor system. It owns nothing but its children: every chat
 * session, shell session and plugin tunnel is spawned here with a `systemId` equal to its
 * actor id (`chat:<sessionId>`, `shell:<key>`, `tunnel:<n>`), so one inspector sees the whole
 * system and the gateway finds any live actor with `system.get(id)`.
 *
 * Why not a state machine: a machine keeps its children in an object it copies on every spawn
 * and every stop, so N live children made the next spawn or stop cost O(N) and an attacker who
 * subscribed to 10 000 made-up session ids stalled the event loop for half a minute (issue 13:
 * 10 240 spawns took 39 s, their stops 51 s). This logic has one state and three events; it
 * keeps its children in a Map it updates in place, so each spawn and stop is O(1). The
 * children are real child actors all the same: their parent is this actor, their done and
 * error events come back here, and stopping the root stops them.
 */
export type GatewayChildKind = 'chatSession' | 'shellSession' | 'pluginTunnel';

export type GatewayRootEvent =
  | { type: 'actor.spawn'; kind: GatewayChildKind; id: string; input: unknown }
  | { type: 'actor.stop'; id: string }
  | DoneActorEvent
  | ErrorActorEvent;

export interface GatewayRootSnapshot {
  status: 'active' | 'stopped';
  output: undefined;
  error: undefined;
  /**
   * The live children by id. Mutated in place (copying it per spawn is what made the machine
   * quadratic); read it, never hold on to it across events.
   */
  readonly children: ReadonlyMap<string, AnyActorRef>;
}

export type GatewayRootLogic = ActorLogic<GatewayRootSnapshot, GatewayRootEvent, undefined>;

const DONE_PREFIX = 'xstate.done.actor.';
const ERROR_PREFIX = 'xstate.error.actor.';
const STOP_EVENT = 'xstate.stop';

/** The root logic with the real logic of each child kind (the wiring supplies them). */
export function createGatewayRootLogic(kinds: Record<GatewayChildKind, AnyActorLogic>): GatewayRootLogic {
  const childrenOf = (snapshot: GatewayRootSnapshot) => snapshot.children as Map<string, AnyActorRef>;
  return {
    // What the Stately inspector names this actor by (it reads `logic.config.id`).
    config: { id: 'gateway' },
    getInitialSnapshot: () => ({ status: 'active', output: undefined, error: undefined, children: new Map() }),
    getPersistedSnapshot: ({ status }) => ({ status, output: undefined, error: undefined }) as GatewayRootSnapshot,
    transition(snapshot, event, scope) {
      const children = childrenOf(snapshot);
      const type = (event as { type: string }).type;
      if (type === STOP_EVENT) {
        for (const child of children.values()) scope.stopChild(child);
        children.clear();
        return { ...snapshot, status: 'stopped' };
      }
      if (event.type === 'actor.spawn') {
        // A live id is a wiring bug; the host checks first and reports it.
        if (children.has(event.id)) return snapshot;
        const child = createActor(kinds[event.kind], {
          id: event.id,
          // The id doubles as systemId so `system.get(id)` finds the child from anywhere.
          systemId: event.id,
          parent: scope.self,
          input: event.input as never,
        });
        children.set(event.id, child);
        scope.defer(() => child.start());
        return snapshot;
      }
      if (event.type === 'actor.stop') {
        const child = children.get(event.id);
        if (child) {
          children.delete(event.id);
          scope.stopChild(child);
        }
        return snapshot;
      }
      // A child that reached its final state is released so its id can be reused. A child that
      // failed is released too: whoever holds its ref sees the error through its own
      // subscription, and the other children are untouched.
      if (type.startsWith(DONE_PREFIX) || type.startsWith(ERROR_PREFIX)) {
        const id = (event as DoneActorEvent | ErrorActorEvent).actorId;
        const child = children.get(id);
        if (child && child.getSnapshot().status !== 'active') children.delete(id);
      }
      return snapshot;
    },
  };
}
