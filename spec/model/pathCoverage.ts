/**
 * Model-based path coverage for one machine: xstate/graph walks the machine's state graph (with
 * context abstracted so the graph is finite), and every generated path is run as a test on a
 * live actor whose effects are fakes, checking the machine's invariants after every step.
 *
 * Paths: the shortest path to every abstract state (getShortestPaths), plus, for every edge of
 * the graph, the shortest path to its source followed by that edge, so every reachable
 * transition is taken at least once. Coverage is measured on the live runs, from the
 * transitions XState reports it took (`@xstate.microstep`), against every transition the
 * machine declares (each guarded branch of `on`, `after`, `always` and invoke `onDone`/`onError`).
 */
import {
  createEmptyActor,
  type AnyActorLogic,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type InspectionEvent,
} from 'xstate';
import { getAdjacencyMap, getShortestPaths, getStateNodes, type StatePath } from 'xstate/graph';

export type Snapshot = AnyMachineSnapshot;
export type PathStep = { event: AnyEventObject; state: Snapshot };

export interface ModelConfiguration {
  label: string;
  input: unknown;
}

export interface MachineModel {
  name: string;
  /** The machine as the gateway defines it: its declared transitions are what must be covered. */
  machine: AnyStateMachine;
  /** The same machine with inert actors, walked purely by xstate/graph. */
  traversal: AnyStateMachine;
  /** Inputs to walk the machine with (some guards depend on them). */
  configurations: ModelConfiguration[];
  /** Candidate events in an abstract state (only those that can really happen there). */
  events(snapshot: Snapshot): AnyEventObject[];
  /** The abstraction of a snapshot that keeps the graph finite. */
  serializeState(snapshot: Snapshot): string;
  /** Runs one path on a live actor with fakes; throws when an invariant breaks. */
  execute(steps: PathStep[], configuration: ModelConfiguration, inspect: (event: InspectionEvent) => void): Promise<void>;
}

export interface CoverageReport {
  name: string;
  states: { total: number; covered: number; missing: string[] };
  transitions: { total: number; covered: number; missing: string[] };
  paths: number;
  steps: number;
}

/**
 * The machine as xstate/graph walks it: every step gets a fresh scope, so actors spawned on one
 * branch of the walk never collide (by systemId) with those of another, and a dummy parent takes
 * whatever `sendParent` would send.
 */
export function walkable<T extends AnyStateMachine>(machine: T): T {
  const freshScope = () => {
    const self = createEmptyActor() as ReturnType<typeof createEmptyActor> & { _parent?: unknown };
    self._parent = createEmptyActor();
    return {
      self,
      id: '',
      sessionId: '',
      logger: () => {},
      defer: () => {},
      system: self.system,
      stopChild: () => {},
      emit: () => {},
      actionExecutor: () => {},
    };
  };
  return new Proxy(machine, {
    get(target, key, receiver) {
      if (key === 'transition') return (snapshot: unknown, event: unknown) => target.transition(snapshot as never, event as never, freshScope() as never);
      if (key === 'getInitialSnapshot') return (_scope: unknown, input: unknown) => target.getInitialSnapshot(freshScope() as never, input);
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A transition's identity, stable across `provide()` copies of a machine. */
export function transitionKey(transition: AnyTransitionDefinition): string {
  const source = transition.source as AnyStateNode;
  const always = source.always ?? [];
  const alwaysIndex = always.indexOf(transition);
  if (alwaysIndex !== -1) return `${source.id} —always[${alwaysIndex}]→`;
  const candidates = source.transitions.get(transition.eventType) ?? [];
  return `${source.id} —${transition.eventType}[${candidates.indexOf(transition)}]→`;
}

export function declaredTransitions(machine: AnyStateMachine): string[] {
  const keys: string[] = [];
  for (const node of [machine.root, ...getStateNodes(machine.root)]) {
    for (const candidates of node.transitions.values()) for (const transition of candidates) keys.push(transitionKey(transition));
    for (const transition of node.always ?? []) keys.push(transitionKey(transition));
  }
  return [...new Set(keys)];
}

export function declaredStates(machine: AnyStateMachine): string[] {
  return [machine.root, ...getStateNodes(machine.root)].map((node) => node.id);
}

/**
 * An event whose payload depends on the snapshot (the current run's id, a pending request)
 * carries a template name: paths are keyed by it, and a live run turns it back into the event
 * that fits the live snapshot (`liveEvent`).
 */
export const TEMPLATE = '~template';

export function templated<T extends AnyEventObject>(template: string, event: T): T {
  return { ...event, [TEMPLATE]: template };
}

const serializeEvent = (event: AnyEventObject) => {
  const template = (event as Record<string, unknown>)[TEMPLATE];
  return typeof template === 'string' ? `~${template}` : JSON.stringify(event);
};

/** The event of a path step, made concrete for the live snapshot (templated events), without its template tag. */
export function liveEvent(model: MachineModel, step: PathStep, live: Snapshot): AnyEventObject {
  const wanted = serializeEvent(step.event);
  const found = (step.event as Record<string, unknown>)[TEMPLATE] === undefined ? step.event : model.events(live).find((event) => serializeEvent(event) === wanted);
  if (!found) throw new Error(`invariant broken: ${wanted} is not possible in the live state ${JSON.stringify(live.value)}`);
  const { [TEMPLATE]: _template, ...event } = found as Record<string, unknown>;
  return event as AnyEventObject;
}

function pathsFor(model: MachineModel, configuration: ModelConfiguration): Array<StatePath<Snapshot, AnyEventObject>> {
  const options = {
    input: configuration.input,
    events: (snapshot: Snapshot) => model.events(snapshot),
    serializeState: (snapshot: Snapshot) => model.serializeState(snapshot),
    serializeEvent,
    limit: 200_000,
  };
  const logic = walkable(model.traversal) as AnyActorLogic;
  const shortest = getShortestPaths(logic, options) as Array<StatePath<Snapshot, AnyEventObject>>;
  const toState = new Map(shortest.map((path) => [model.serializeState(path.state), path]));
  const paths = [...shortest];
  const adjacency = getAdjacencyMap(logic, options);
  for (const [stateKey, { transitions }] of Object.entries(adjacency)) {
    const prefix = toState.get(stateKey);
    if (!prefix) continue;
    for (const { event, state } of Object.values(transitions) as PathStep[]) {
      paths.push({ state, steps: [...prefix.steps, { event, state }], weight: prefix.weight + 1 } as StatePath<Snapshot, AnyEventObject>);
    }
  }
  const seen = new Set<string>();
  return paths.filter((path) => {
    const key = path.steps.map((step) => serializeEvent(step.event)).join('\n');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Walks, runs every path, and reports what the runs covered. Throws on the first broken path. */
export async function coverMachine(model: MachineModel): Promise<CoverageReport> {
  const machineId = model.machine.id;
  const coveredStates = new Set<string>();
  const coveredTransitions = new Set<string>();
  const inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.microstep' && event.type !== '@xstate.snapshot') return;
    const snapshot = event.snapshot as Snapshot & { machine?: AnyStateMachine; _nodes?: AnyStateNode[] };
    if (snapshot.machine?.id !== machineId) return;
    for (const node of snapshot._nodes ?? []) coveredStates.add(node.id);
    if (event.type === '@xstate.microstep') for (const transition of event._transitions) coveredTransitions.add(transitionKey(transition));
  };
  let pathCount = 0;
  let stepCount = 0;
  for (const configuration of model.configurations) {
    for (const path of pathsFor(model, configuration)) {
      // The first step of every path is the machine's start (xstate.init).
      const steps = path.steps.filter((step) => step.event.type !== 'xstate.init');
      try {
        await model.execute(steps, configuration, inspect);
      } catch (error) {
        const trail = steps.map((step) => `  ${serializeEvent(step.event)}\n    → ${model.serializeState(step.state)}`).join('\n');
        throw new Error(`${model.name} [${configuration.label}]: ${error instanceof Error ? error.message : String(error)}\npath:\n${trail}`);
      }
      pathCount += 1;
      stepCount += steps.length;
    }
  }
  const states = declaredStates(model.machine);
  const transitions = declaredTransitions(model.machine);
  return {
    name: model.name,
    states: { total: states.length, covered: states.filter((id) => coveredStates.has(id)).length, missing: states.filter((id) => !coveredStates.has(id)) },
    transitions: {
      total: transitions.length,
      covered: transitions.filter((key) => coveredTransitions.has(key)).length,
      missing: transitions.filter((key) => !coveredTransitions.has(key)),
    },
    paths: pathCount,
    steps: stepCount,
  };
}

/** Lets every promise that is ready settle (one trip round the event loop). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A promise whose outcome the test decides. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The delay of the `after` transition an `xstate.after.*` event stands for. */
export function afterDelay(machine: AnyStateMachine, eventType: string, context: Record<string, unknown>): number {
  for (const node of getStateNodes(machine.root)) {
    for (const delayed of node.after) {
      if (delayed.eventType !== eventType) continue;
      const delay = delayed.delay;
      if (typeof delay === 'number') return delay;
      const named = (machine.implementations.delays as Record<string, unknown>)[String(delay)];
      return typeof named === 'function' ? Number((named as (args: unknown) => unknown)({ context })) : Number(named);
    }
  }
  throw new Error(`no after transition for ${eventType}`);
}

/** Fails with `message` unless `condition` holds. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant broken: ${message}`);
}

export function leafValue(value: unknown): string {
  let current = value;
  while (current && typeof current === 'object') current = Object.values(current as object)[0];
  return String(current);
}
