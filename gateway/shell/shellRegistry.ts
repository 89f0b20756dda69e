/**
 * The live shell sessions of one gateway: which actor is at which key, who owns it, which
 * viewer ids the gateway attached to it, and the PTY limits. Each session is a child of the
 * root actor (`shell:<key>`); this registry only indexes them and relays their frames.
 */
import type { ActorRefFrom } from 'xstate';

import type {
  ShellControlEvent,
  ShellSessionContext,
  ShellSessionInput,
  ShellViewerEvent,
  shellSessionMachine,
} from '../../machines/shellSession.machine.js';
import type { ActorHost } from '../actorHost.js';
import type { GatewayLimits } from '../config.js';
import type { Logger } from '../logger.js';

export type ShellSessionActor = ActorRefFrom<typeof shellSessionMachine>;

export interface ShellEntry {
  readonly id: string;
  readonly ownerId: string;
  readonly actor: ShellSessionActor;
  /** Viewer ids the gateway attached here and has not detached. */
  readonly viewers: Set<string>;
}

export interface ShellActorSummary {
  id: string;
  key: string;
  ownerId: string;
  /** The innermost state: spawning, running, detached or exited. */
  state: string;
  viewers: number;
  pid: number | null;
  paused: boolean;
  /** What holds the PTY paused: `'screen'` (the mirror is behind) and ids of viewers whose sockets are congested. */
  pausedBy: readonly string[];
  /** Auth URLs found while nobody watched, waiting for the next viewer. */
  undeliveredAuthUrls: number;
  exit: ShellSessionContext['exit'];
}

export interface ShellRegistryDeps {
  host: ActorHost;
  limits: GatewayLimits;
  logger: Logger;
  /** Sends one serialized frame to each of these viewers. */
  deliver(viewerIds: readonly string[], text: string): void;
  /** A session ended (exited and seen, killed, collected): these viewers are attached to nothing now. */
  released(entryId: string, viewerIds: readonly string[]): void;
}

export interface ShellRegistry {
  get(id: string): ShellEntry | undefined;
  spawn(id: string, input: ShellSessionInput): ShellEntry;
  attach(entry: ShellEntry, viewerId: string, size?: { cols?: number; rows?: number }): void;
  detach(entryId: string, viewerId: string): void;
  send(entryId: string, event: ShellViewerEvent): void;
  /** Ends a session for good: replaced by a restart, or an exited one collected. */
  kill(entry: ShellEntry, reason: 'restart' | 'collect'): void;
  /** Ends a session because the gateway is closing (`gateway.shutdown`). */
  shutdown(entry: ShellEntry): void;
  /**
   * True when `ownerId` may start one more PTY; exited sessions kept only for late viewers are
   * collected to make room. A killed PTY whose process has not exited yet (its kill grace) still
   * counts against the limits.
   */
  makeRoom(ownerId: string): boolean;
  /** A PTY process was started / has exited (its session may have ended long before). */
  processStarted(pid: number): void;
  processExited(pid: number): void;
  /** Processes of ended sessions that have not exited yet. */
  dyingCount(): number;
  /** Resolves at the next exit of such a process, or after `timeoutMs`. */
  nextDyingExit(timeoutMs: number): Promise<void>;
  entries(): ShellEntry[];
  list(): ShellActorSummary[];
}

/** The leaf of a nested state value: `{ active: { live: 'running' } }` → `running`. */
export function leafState(value: unknown): string {
  let current = value;
  while (current !== null && typeof current === 'object') {
    const keys = Object.keys(current);
    if (keys.length === 0) return '';
    current = (current as Record<string, unknown>)[keys[0]];
  }
  return String(current);
}

export function createShellRegistry(deps: ShellRegistryDeps): ShellRegistry {
  const entries = new Map<string, ShellEntry>();
  /** Pids of PTY processes that have not exited. */
  const live = new Set<number>();
  /** Pid → owner of processes whose session has ended but that have not exited (SIGHUP sent, SIGKILL pending). */
  const dying = new Map<number, string>();
  let exitWaiters: Array<() => void> = [];

  const release = (entry: ShellEntry) => {
    if (entries.get(entry.id) !== entry) return;
    const { pid } = entry.actor.getSnapshot().context;
    if (pid !== null && live.has(pid)) dying.set(pid, entry.ownerId);
    entries.delete(entry.id);
    const viewers = [...entry.viewers];
    entry.viewers.clear();
    deps.released(entry.id, viewers);
  };

  const isCollectable = (entry: ShellEntry) =>
    leafState(entry.actor.getSnapshot().value) === 'exited' && entry.viewers.size === 0;

  const collectFrom = (candidates: ShellEntry[]) => {
    for (const entry of candidates) if (isCollectable(entry)) registry.kill(entry, 'collect');
  };

  /** Sends the session its end; a final state completes synchronously and releases it. */
  const end = (entry: ShellEntry, event: ShellControlEvent) => {
    entry.actor.send(event);
    // This covers an actor that could not take the event.
    if (entries.get(entry.id) === entry) {
      deps.host.stop(entry.id);
      release(entry);
    }
  };

  const registry: ShellRegistry = {
    get: (id) => entries.get(id),
    spawn(id, input) {
      const actor = deps.host.spawn('shellSession', id, input) as ShellSessionActor;
      const entry: ShellEntry = { id, ownerId: input.ownerId, actor, viewers: new Set() };
      entries.set(id, entry);
      actor.on('shell.frame', (emitted) => deps.deliver(emitted.to, JSON.stringify(emitted.frame)));
      actor.subscribe({
        complete: () => release(entry),
        error: (error) => {
          deps.logger.error('shell: session actor failed', {
            id,
            error: error instanceof Error ? error.message : String(error),
          });
          release(entry);
          deps.host.stop(id);
        },
      });
      // The actor may already have finished (spawn failure) before we subscribed.
      if (actor.getSnapshot().status !== 'active') release(entry);
      return entry;
    },
    attach(entry, viewerId, size) {
      entry.viewers.add(viewerId);
      entry.actor.send({ type: 'viewer.attach', viewerId, ...(size?.cols !== undefined && size.rows !== undefined ? { cols: size.cols, rows: size.rows } : {}) });
    },
    detach(entryId, viewerId) {
      const entry = entries.get(entryId);
      if (!entry || !entry.viewers.delete(viewerId)) return;
      entry.actor.send({ type: 'viewer.detach', viewerId });
    },
    send(entryId, event) {
      entries.get(entryId)?.actor.send(event);
    },
    kill(entry, reason) {
      end(entry, { type: 'session.kill', reason });
    },
    shutdown(entry) {
      end(entry, { type: 'gateway.shutdown' });
    },
    makeRoom(ownerId) {
      const all = [...entries.values()];
      const mine = () => [...entries.values()].filter((entry) => entry.ownerId === ownerId);
      let mineDying = 0;
      for (const owner of dying.values()) if (owner === ownerId) mineDying++;
      const held = () => mine().length + mineDying;
      const heldTotal = () => entries.size + dying.size;
      if (held() >= deps.limits.maxPtysPerUser) collectFrom(mine());
      if (heldTotal() >= deps.limits.maxPtysTotal) collectFrom(all);
      return held() < deps.limits.maxPtysPerUser && heldTotal() < deps.limits.maxPtysTotal;
    },
    processStarted(pid) {
      live.add(pid);
    },
    processExited(pid) {
      live.delete(pid);
      if (!dying.delete(pid)) return;
      const waiters = exitWaiters;
      exitWaiters = [];
      for (const wake of waiters) wake();
    },
    dyingCount: () => dying.size,
    nextDyingExit(timeoutMs) {
      return new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          exitWaiters = exitWaiters.filter((waiter) => waiter !== wake);
          resolve();
        }, timeoutMs);
        exitWaiters.push(wake);
      });
    },
    entries: () => [...entries.values()],
    list() {
      return [...entries.values()].map((entry) => {
        const snapshot = entry.actor.getSnapshot();
        const { context } = snapshot;
        return {
          id: entry.id,
          key: context.key,
          ownerId: entry.ownerId,
          state: leafState(snapshot.value),
          viewers: Object.keys(context.viewers).length,
          pid: context.pid,
          paused: context.paused,
          pausedBy: context.congested,
          undeliveredAuthUrls: context.undeliveredAuthUrls.length,
          exit: context.exit,
        };
      });
    },
  };
  return registry;
}
