/**
 * The nodes of the cluster: each node announces itself in `<p>nodes` (node id → the Redis
 * server's clock in ms, so nodes' clocks need not agree) every third of the lease time; `alive()`
 * is every node announced within the lease time. Nodes silent for `NODE_FORGET_AFTER_MS` are
 * removed by the announcements themselves, which bounds the set.
 */
import type { Redis } from 'ioredis';

import type { PersistenceLogger } from '../types.js';
import type { RedisKeys } from './keys.js';
import type { ConnectionStatus } from './redisConnections.js';
import type { RedisScripts } from './scripts.js';

/** A node silent this long leaves the registry for good. */
export const NODE_FORGET_AFTER_MS = 60 * 60 * 1000;

export interface NodeRegistryParts {
  command: Redis;
  scripts: RedisScripts;
  keys: RedisKeys;
  status: ConnectionStatus;
}

export class NodeRegistry {
  private timer: NodeJS.Timeout | null = null;
  private failingLogged = false;

  constructor(
    private readonly parts: NodeRegistryParts,
    private readonly nodeId: string,
    private readonly leaseMs: number,
    private readonly logger?: PersistenceLogger,
  ) {}

  /** Announces now (rejects when Redis cannot be reached), then every third of the lease time. */
  async start(): Promise<void> {
    await this.announce();
    this.timer = setInterval(() => {
      this.announce().then(
        () => {
          if (this.failingLogged) this.logger?.warn('Node announcements reach Redis again', { nodeId: this.nodeId });
          this.failingLogged = false;
        },
        (error: unknown) => {
          if (!this.failingLogged) this.logger?.error('Node announcement failed', { error: this.parts.status.describe(error) });
          this.failingLogged = true;
        },
      );
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  async alive(): Promise<string[]> {
    const reply = await this.call(() => this.parts.scripts.run('agAliveNodes', [this.parts.keys.nodes], [this.leaseMs]));
    return Array.isArray(reply) ? (reply as unknown[]).map(String) : [];
  }

  /** Stops announcing and leaves the registry (best effort). */
  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.parts.command.status !== 'ready') return;
    await this.parts.command.zrem(this.parts.keys.nodes, this.nodeId).catch(() => undefined);
  }

  private announce(): Promise<unknown> {
    return this.call(() => this.parts.scripts.run('agAnnounceNode', [this.parts.keys.nodes], [this.nodeId, NODE_FORGET_AFTER_MS]));
  }

  private call<T>(run: () => Promise<T>): Promise<T> {
    return this.parts.status.track(run);
  }
}
