/**
 * Starting the processes of a workload: both relay servers, the load generator, helper children.
 * Normally each workload starts its own and stops them when done. With `ctx.shared` (tiny runs:
 * the spec that proves the harness works), one set is started once and reused by every workload,
 * since start-up dominates a tiny run; figures from a shared run mean nothing and are not written
 * as results.
 */
import { join } from 'node:path';

import { spawnChild, type Api, type Remote, type SpawnOptions } from './ipc.js';
import type { LoadApi } from '../load/loadgen.js';
import type { RelayServerApi, ServerInfo } from '../servers/relayApi.js';
import type { BenchContext, Side } from './workload.js';

export interface Relay {
  server: Remote<RelayServerApi>;
  info: ServerInfo;
}

export interface Rig {
  relays: Record<Side, Relay>;
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
        const server = this.child<RelayServerApi>(relayUrl(side), { label: `${side} server` });
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

const relayUrl = (side: Side) => moduleUrl(side === 'gateway' ? '../servers/gatewayServer.ts' : '../servers/bareServer.ts');

/** A helper child (log bench, raw PTY reader), or the shared one. */
export function startChild<A extends Api>(ctx: BenchContext, path: string, options: SpawnOptions): Remote<A> {
  const url = moduleUrl(path);
  return ctx.shared ? ctx.shared.child<A>(url, options) : spawnChild<A>(url, options);
}

export async function startRelay(
  side: Side,
  ctx: BenchContext,
  options: { profileName?: string; exposeGc?: boolean; nodeFlags?: string[] } = {},
): Promise<Relay> {
  if (ctx.shared) return ctx.shared.relay(side);
  const flags = [...(options.exposeGc ? ['--expose-gc'] : []), ...(options.nodeFlags ?? [])];
  if (options.profileName) flags.push(...profileFlags(ctx, `${options.profileName}-${side}`));
  const server = spawnChild<RelayServerApi>(relayUrl(side), { nodeFlags: flags, label: `${side} server` });
  const info = await server.call('info', null, 60_000);
  return { server, info };
}

export function startLoad(ctx: BenchContext): Remote<LoadApi> {
  return startChild<LoadApi>(ctx, '../load/loadgen.ts', { label: 'load generator' });
}

/** Both servers and a load generator; both servers are profiled when the run asks for it. */
export async function startRig(ctx: BenchContext, workloadId: string): Promise<Rig> {
  const load = startLoad(ctx);
  const [gateway, baseline] = await Promise.all([
    startRelay('gateway', ctx, { profileName: workloadId }),
    startRelay('baseline', ctx, { profileName: workloadId }),
  ]);
  return {
    relays: { gateway, baseline },
    load,
    async stop() {
      await Promise.all([gateway.server.stop(), baseline.server.stop(), load.stop()]);
    },
  };
}
