/**
 * Which node holds a `/shell` PTY key (`ShellRegistry`): `<p>shell:<key>` = node id, with a PX
 * expiry of the lease time, renewed every third of it while this node holds the PTY. A node that
 * dies stops renewing, so its keys vanish within the lease time.
 *
 * The keys this node renews are the PTYs it runs (the gateway bounds those); `close` drops them.
 */
import type { Redis } from 'ioredis';

import type { ShellRegistry } from '../cluster/types.js';
import type { PersistenceLogger } from '../types.js';
import type { RedisKeys } from './keys.js';
import type { ConnectionStatus } from './redisConnections.js';
import type { RedisScripts } from './scripts.js';

export interface ShellRegistryParts {
  command: Redis;
  scripts: RedisScripts;
  keys: RedisKeys;
  status: ConnectionStatus;
}

export class RedisShellRegistry implements ShellRegistry {
  private readonly claimed = new Set<string>();
  private readonly renewTimer: NodeJS.Timeout;
  private renewing = false;
  private lostLogged = new Set<string>();

  constructor(
    private readonly parts: ShellRegistryParts,
    private readonly nodeId: string,
    private readonly leaseMs: number,
    private readonly logger?: PersistenceLogger,
  ) {
    this.renewTimer = setInterval(() => this.renewAll(), Math.max(1, Math.floor(leaseMs / 3)));
    this.renewTimer.unref();
  }

  async claim(key: string): Promise<void> {
    if (typeof key !== 'string' || key === '') throw new TypeError('claim needs a shell key');
    // Remembered first: if Redis is unreachable now, the next renewal writes it.
    this.claimed.add(key);
    await this.call(() => this.parts.command.set(this.parts.keys.shell(key), this.nodeId, 'PX', this.leaseMs));
  }

  async drop(key: string): Promise<void> {
    this.claimed.delete(key);
    this.lostLogged.delete(key);
    await this.call(() => this.parts.scripts.run('agDropShell', [this.parts.keys.shell(key)], [this.nodeId]));
  }

  async holder(key: string): Promise<string | null> {
    return this.call(() => this.parts.command.get(this.parts.keys.shell(key)));
  }

  /** Stops renewing and deletes this node's claims (best effort: they expire anyway). */
  async close(): Promise<void> {
    clearInterval(this.renewTimer);
    const keys = [...this.claimed];
    this.claimed.clear();
    if (keys.length === 0 || this.parts.command.status !== 'ready') return;
    const pipeline = this.parts.command.pipeline();
    for (const key of keys) this.parts.scripts.queue(pipeline, 'agDropShell', [this.parts.keys.shell(key)], [this.nodeId]);
    await pipeline.exec().catch(() => undefined);
  }

  private renewAll(): void {
    if (this.renewing || this.claimed.size === 0) return;
    const keys = [...this.claimed];
    const { command, scripts, status } = this.parts;
    const pipeline = command.pipeline();
    for (const key of keys) scripts.queue(pipeline, 'agRenewShell', [this.parts.keys.shell(key)], [this.nodeId, this.leaseMs]);
    this.renewing = true;
    pipeline
      .exec()
      .then(
        (results) => {
          keys.forEach((key, i) => {
            const [error, reply] = results?.[i] ?? [new Error('no reply'), null];
            if (error) status.noteFailure(error);
            else if (Number(reply) === 0 && this.claimed.has(key) && !this.lostLogged.has(key)) {
              this.lostLogged.add(key);
              this.logger?.warn('Another node claims a shell key this node holds', { key });
            }
          });
        },
        (error: unknown) => status.noteFailure(error),
      )
      .finally(() => {
        this.renewing = false;
      });
  }

  private call<T>(run: () => Promise<T>): Promise<T> {
    return this.parts.status.track(run);
  }
}
