import { assign, setup, stopChild, type AnyActorLogic, type DoneActorEvent, type ErrorActorEvent } from 'xstate';

/**
 * The root of the gateway's actor system. It owns nothing but its children: every chat
 * session, shell session and plugin tunnel is spawned here with a `systemId` equal to its
 * actor id (`chat:<sessionId>`, `shell:<key>`, `tunnel:<n>`), so one inspector sees the whole
 * system and the gateway finds any live actor with `system.get(id)`.
 *
 * The three child kinds are supplied by the wiring with `provide({ actors })`; this machine
 * does not know what they do.
 */
export type GatewayChildKind = 'chatSession' | 'shellSession' | 'pluginTunnel';

export type GatewayRootEvent =
  | { type: 'actor.spawn'; kind: GatewayChildKind; id: string; input: unknown }
  | { type: 'actor.stop'; id: string }
  | DoneActorEvent
  | ErrorActorEvent;

/** Placeholder logic: the root must be given real children with `provide()` before it starts. */
const notProvided = (kind: GatewayChildKind): AnyActorLogic => {
  const fail = (): never => {
    throw new Error(`gateway.machine: child kind "${kind}" was not provided`);
  };
  return {
    config: undefined,
    transition: fail,
    getInitialSnapshot: fail,
    getPersistedSnapshot: fail,
  } as unknown as AnyActorLogic;
};

export const gatewayMachine = setup({
  types: {
    events: {} as GatewayRootEvent,
  },
  actors: {
    chatSession: notProvided('chatSession'),
    shellSession: notProvided('shellSession'),
    pluginTunnel: notProvided('pluginTunnel'),
  },
}).createMachine({
  id: 'gateway',
  on: {
    'actor.spawn': {
      actions: assign(({ event, spawn }) => {
        // The id doubles as systemId so `system.get(id)` finds the child from anywhere.
        spawn(event.kind, { id: event.id, systemId: event.id, input: event.input as never });
        return {};
      }),
    },
    'actor.stop': {
      actions: stopChild(({ event }) => event.id),
    },
    // A child that reached its final state is released so its id can be reused.
    'xstate.done.actor.*': {
      actions: stopChild(({ event }) => (event as DoneActorEvent).actorId),
    },
    // A child that failed is released too: an unhandled child error would otherwise put the
    // root, and with it every other live session, shell and tunnel, into its error state.
    // (Whoever holds the child's ref sees its error through its own subscription.)
    'xstate.error.actor.*': {
      actions: stopChild(({ event }) => (event as ErrorActorEvent).actorId),
    },
  },
});
