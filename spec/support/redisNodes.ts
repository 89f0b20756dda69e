/**
 * Nodes of the Redis cluster backend for a spec file, on a redis-server of the spec's own
 * (`start` in `test.before`, `stop` in `test.after`). Each node records what its hooks report
 * (other nodes' events, refused appends, lost leases) and lets a test override the lease token its
 * log fences a session with; `twoNodes` opens nodes `a` and `b` on a key prefix of their own, so
 * tests never see each other's keys. Also `sleep` and `until`, the waits these specs poll with.
 */
import type { Redis } from 'ioredis';

import type { AppendRefusal, ClusterBackend, RedisClusterOptions } from '../../persistence/cluster/types.js';
import { openRedisCluster } from '../../persistence/redis/redisCluster.js';
import { startRedis, type RedisServer, type RedisServerOptions } from './redisServer.js';

export interface Node {
  backend: ClusterBackend;
  /** onRemoteEvents calls, in order. */
  remote: Array<{ sessionId: string; seqs: number[] }>;
  /** onAppendRefused calls, in order. */
  refused: Array<{ sessionId: string; reason: AppendRefusal }>;
  /** onLeaseLost calls, in order, with the time (epoch ms) each came. */
  lost: Array<{ sessionId: string; runId: string; at: number }>;
  /** Overrides the lease token the log fences a session with (default: the node's own lease). */
  fence: Map<string, string | null>;
}

export interface RedisNodes {
  /** Starts the spec's redis-server, which every node opens on. */
  start(options?: RedisServerOptions): Promise<RedisServer>;
  /** Closes every node opened, in order, then disconnects `clients` and stops the server. */
  stop(...clients: Redis[]): Promise<void>;
  /** Opens a node on `prefix`; `options` go over the spec's defaults. */
  openNode(nodeId: string, prefix: string, options?: Partial<RedisClusterOptions>): Promise<Node>;
  /** Two nodes, `a` then `b`, on a new key prefix. */
  twoNodes(options?: Partial<RedisClusterOptions>): Promise<{ a: Node; b: Node; prefix: string }>;
  /** A key prefix no node of this spec used yet: the spec's letter and a counter. */
  newPrefix(): string;
}

/** Bounds of a node unless the spec (`defaults`) or the test (`options`) says otherwise. */
const NODE_OPTIONS = {
  leaseMs: 5_000,
  maxEventsPerSession: 1_000,
  maxBytesPerSession: 1024 * 1024,
  tailEvents: 100,
} satisfies Partial<RedisClusterOptions>;

/** The nodes of one spec file: `letter` starts its key prefixes, `defaults` go over `NODE_OPTIONS`. */
export function redisNodes(setup: { letter: string; defaults?: Partial<RedisClusterOptions> }): RedisNodes {
  let server: RedisServer | null = null;
  const opened: ClusterBackend[] = [];
  let prefixCounter = 0;

  const openNode = async (nodeId: string, prefix: string, options: Partial<RedisClusterOptions> = {}): Promise<Node> => {
    const backend = await openRedisCluster({
      url: (server ?? notStarted()).url,
      nodeId,
      keyPrefix: prefix,
      ...NODE_OPTIONS,
      ...setup.defaults,
      ...options,
    });
    opened.push(backend);
    const node: Node = { backend, remote: [], refused: [], lost: [], fence: new Map() };
    backend.eventLog.setHooks({
      onRemoteEvents: (sessionId, events) => node.remote.push({ sessionId, seqs: events.map((e) => e.seq) }),
      onAppendRefused: (sessionId, reason) => node.refused.push({ sessionId, reason }),
      fenceOf: (sessionId) => (node.fence.has(sessionId) ? (node.fence.get(sessionId) ?? null) : backend.runs.tokenOf(sessionId)),
    });
    backend.runs.setHooks({ onLeaseLost: (sessionId, runId) => node.lost.push({ sessionId, runId, at: Date.now() }) });
    return node;
  };

  const newPrefix = () => `${setup.letter}${++prefixCounter}:`;

  return {
    async start(options = {}) {
      server = await startRedis(options);
      return server;
    },
    async stop(...clients) {
      for (const backend of opened) await backend.close();
      for (const client of clients) client.disconnect();
      await server?.stop();
    },
    openNode,
    newPrefix,
    async twoNodes(options = {}) {
      const prefix = newPrefix();
      const a = await openNode('a', prefix, options);
      const b = await openNode('b', prefix, options);
      return { a, b, prefix };
    },
  };
}

function notStarted(): never {
  throw new Error('redisNodes: start() the redis-server first');
}

/** A node's lost leases without their times, for comparing with a literal. */
export const lostRuns = (node: Node) => node.lost.map(({ sessionId, runId }) => ({ sessionId, runId }));

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 10 ms until it holds; throws after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
