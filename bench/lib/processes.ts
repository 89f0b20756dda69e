/**
 * Starting the processes of a workload: both relay servers, the load generator, helper children.
 * Normally each workload starts its own and stops them when done. With `ctx.shared` (tiny runs:
 * the spec that proves the harness works), one set is started once and reused by every workload,
 * since start-up dominates a tiny run; figures from a shared run mean nothing and are not written
 * as results.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { GATEWAY_V8_FLAGS } from '../../gateway/v8Tuning.js';
import { spawnChild, type Api, type Remote, type SpawnOptions } from './ipc.js';
import type { LoadApi } from '../load/loadgen.js';
import type { RelayServerApi, ServerInfo } from '../servers/relayApi.js';
import type { BenchContext, Side } from './workload.js';

export interface Relay {
  server: Remote<RelayServerApi>;
  info: ServerInfo;
}

export interface Rig {
  relays: Partial<Record<Side, Relay>>;
  /** The relay of a side this rig started (throws for one it did not). */
  relay(side: Side): Relay;
  load: Remote<LoadApi>;
  stop(): Promise<void>;
}

const moduleUrl = (path: string) => new URL(path, import.meta.url);

export function profileFlags(ctx: BenchContext, name: string): string[] {
  if (!ctx.profileDir) return [];
  // One directory per process: the tsx loader thread writes a profile of its own next to the main one.
  return ['--cpu-prof', `--cpu-prof-dir=${join(ctx.profileDir, name)}`];
}

/** Processes started once and reused by every workload of a shared run. */
export class SharedProcesses {
  private readonly children = new Map<string, Remote<Api>>();
  private readonly relays = new Map<Side, Promise<Relay>>();

  child<A extends Api>(url: URL, options: SpawnOptions): Remote<A> {
    let remote = this.children.get(url.href);
    if (!remote) {
      remote = spawnChild<Api>(url, { ...options, nodeFlags: ['--expose-gc'] });
      this.children.set(url.href, remote);
    }
    return { pid: remote.pid, call: remote.call as Remote<A>['call'], stop: async () => {} };
  }

  async relay(side: Side): Promise<Relay> {
    let relay = this.relays.get(side);
    if (!relay) {
      relay = (async () => {
        const real = spawnChild<RelayServerApi>(relayUrl(side), { nodeFlags: ['--expose-gc', ...relayNodeFlags(side)], env: relayEnv(side), label: `${side} server` });
        this.children.set(`relay:${side}`, real as unknown as Remote<Api>);
        // Workloads stop their relays when done; a shared one is stopped once, by stop() below.
        const server: Remote<RelayServerApi> = { pid: real.pid, call: real.call, stop: async () => {} };
        return { server, info: await server.call('info', null, 60_000) };
      })();
      this.relays.set(side, relay);
    }
    return relay;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.children.values()].map((child) => child.stop()));
    this.children.clear();
    this.relays.clear();
  }
}

const RELAY_MODULES: Record<Side, string> = {
  gateway: '../servers/gatewayServer.ts',
  baseline: '../servers/bareServer.ts',
  uncorked: '../servers/bareServer.ts',
  socketio: '../servers/socketioServer.ts',
};
const relayUrl = (side: Side) => moduleUrl(RELAY_MODULES[side]);
/** The bare relay corks per turn as the baseline, and not as the `uncorked` peer. */
const relayEnv = (side: Side): Record<string, string> | undefined =>
  side === 'baseline' ? { BENCH_BARE_CORK: '1' } : side === 'uncorked' ? { BENCH_BARE_CORK: '0' } : undefined;

/**
 * node's command line for a relay. The gateway runs as `npm start` runs it (GATEWAY_V8_FLAGS),
 * and the corked bare baseline with the same flags, so no flag counts as the gateway's gain (the
 * memory reducer's cost after idle time hit the bare relay too). The uncorked relay and socket.io
 * run as node comes. `BENCH_GATEWAY_V8_DEFAULTS=1`: every side as node comes.
 */
const relayNodeFlags = (side: Side): readonly string[] =>
  process.env.BENCH_GATEWAY_V8_DEFAULTS !== '1' && (side === 'gateway' || side === 'baseline') ? GATEWAY_V8_FLAGS : [];

/** A helper child (log bench, raw PTY reader), or the shared one. */
export function startChild<A extends Api>(ctx: BenchContext, path: string, options: SpawnOptions): Remote<A> {
  const url = moduleUrl(path);
  // A shared child serves every workload: none gets to pin it.
  return ctx.shared ? ctx.shared.child<A>(url, { ...options, cpus: undefined }) : spawnChild<A>(url, options);
}

export async function startRelay(
  side: Side,
  ctx: BenchContext,
  options: { profileName?: string; exposeGc?: boolean; nodeFlags?: string[] } = {},
): Promise<Relay> {
  if (ctx.shared) return ctx.shared.relay(side);
  const flags = [...(options.exposeGc ? ['--expose-gc'] : []), ...relayNodeFlags(side), ...(options.nodeFlags ?? [])];
  if (options.profileName) flags.push(...profileFlags(ctx, `${options.profileName}-${side}`));
  const server = spawnChild<RelayServerApi>(relayUrl(side), { nodeFlags: flags, env: relayEnv(side), label: `${side} server` });
  const info = await server.call('info', null, 60_000);
  return { server, info };
}

/**
 * The load generator. `ownCpu`: it runs on the last CPU only (on a machine with two or more), so
 * the measuring instrument and the server under test do not take turns on one core: on the 2-core
 * machine each server's event loop otherwise waited 15 % of the latency workload on the run queue,
 * in stalls of 10-40 ms that were most of either side's p99 (a scratch `schedstat` probe). The
 * servers keep every CPU. Only where the load generator's work is light (the latency workload's
 * paced stream: ~0.7 of a core): pinned under a burst it would cap the figures it measures.
 */
export function startLoad(ctx: BenchContext, options: { ownCpu?: boolean } = {}): Remote<LoadApi> {
  const lastCpu = availableParallelism() - 1;
  const cpus = options.ownCpu && lastCpu > 0 ? String(lastCpu) : undefined;
  return startChild<LoadApi>(ctx, '../load/loadgen.ts', { label: 'load generator', cpus });
}

/** A server per side and a load generator; every server is profiled when the run asks for it. */
export async function startRig(
  ctx: BenchContext,
  workloadId: string,
  sides: readonly Side[] = ['gateway', 'baseline'],
  options: { loadOwnCpu?: boolean } = {},
): Promise<Rig> {
  const load = startLoad(ctx, { ownCpu: options.loadOwnCpu });
  const started = await Promise.all(sides.map((side) => startRelay(side, ctx, { profileName: workloadId })));
  const relays: Partial<Record<Side, Relay>> = {};
  sides.forEach((side, i) => (relays[side] = started[i]));
  return {
    relays,
    relay(side) {
      const relay = relays[side];
      if (!relay) throw new Error(`this rig has no ${side} server`);
      return relay;
    },
    load,
    async stop() {
      await Promise.all([...started.map((relay) => relay.server.stop()), load.stop()]);
    },
  };
}
