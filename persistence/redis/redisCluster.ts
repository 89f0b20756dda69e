/**
 * `openRedisCluster`: one gateway node's view of the shared Redis backend (`ClusterBackend`,
 * persistence/cluster/types.ts). It connects (failing the start with a clear error when Redis
 * cannot be reached), registers the scripts, and wires the parts:
 *
 * | part | file |
 * |---|---|
 * | connections, reachability, credentials kept out of errors | `redisConnections.ts` |
 * | key and channel names | `keys.ts` |
 * | the Lua of every atomic step | `scripts.ts` |
 * | the event log: mirror, writer, reader | `redisEventLog.ts`, `logMirror.ts`, `appendWriter.ts`, `streamReader.ts` |
 * | run leases and records | `runLeases.ts` |
 * | the session store | `redisSessionStore.ts` |
 * | messages between nodes | `nodeBus.ts` |
 * | who holds a shell key | `shellRegistry.ts` |
 * | which nodes are alive | `nodeRegistry.ts` |
 *
 * The log tells the leases when it wrote a run's `complete` (that write deleted the lease in
 * Redis), so a renewal racing the gateway's `ended()` is not taken for a lost lease.
 */
import type { BackendHealth, ClusterBackend, RedisClusterOptions } from '../cluster/types.js';
import { DEFAULT_RUN_LEASE_MS } from '../cluster/types.js';
import { DEFAULT_KEY_PREFIX, RedisKeys } from './keys.js';
import { RedisNodeBus } from './nodeBus.js';
import { NodeRegistry } from './nodeRegistry.js';
import { openConnections } from './redisConnections.js';
import { RedisEventLog } from './redisEventLog.js';
import { RedisSessionStore } from './redisSessionStore.js';
import { RedisRunLeases } from './runLeases.js';
import { RedisScripts } from './scripts.js';
import { RedisShellRegistry } from './shellRegistry.js';

export { MAX_UNWRITTEN_BYTES, MAX_UNWRITTEN_EVENTS } from './appendWriter.js';
export { MAX_MIRROR_BYTES, MIRROR_EXTENSION_TTL_MS } from './logMirror.js';
export { OPEN_TIMEOUT_MS } from './redisConnections.js';
export { MAX_SESSION_CURSOR_CHARS, SessionExistsError } from './redisSessionStore.js';

/** How long `close()` lets the event log write what is still pending. */
export const CLOSE_WRITE_TIMEOUT_MS = 2_000;
/** The shortest lease accepted: renewals run every third of it. */
export const MIN_RUN_LEASE_MS = 30;

function integerOption(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`Redis cluster option "${name}" must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

export async function openRedisCluster(options: RedisClusterOptions): Promise<ClusterBackend> {
  if (typeof options.nodeId !== 'string' || options.nodeId === '') throw new TypeError('Redis cluster option "nodeId" must be a non-empty string');
  const leaseMs = integerOption('leaseMs', options.leaseMs ?? DEFAULT_RUN_LEASE_MS, MIN_RUN_LEASE_MS);
  const maxEventsPerSession = integerOption('maxEventsPerSession', options.maxEventsPerSession, 1);
  const maxBytesPerSession = integerOption('maxBytesPerSession', options.maxBytesPerSession, 0);
  const tailEvents = integerOption('tailEvents', options.tailEvents, 0);
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  if (typeof keyPrefix !== 'string') throw new TypeError('Redis cluster option "keyPrefix" must be a string');
  const { nodeId, logger } = options;

  const connections = await openConnections(options.url, nodeId, logger);
  const { command, status } = connections;
  const keys = new RedisKeys(keyPrefix);
  const scripts = new RedisScripts(command);
  const parts = { command, scripts, keys, status };

  const runs = new RedisRunLeases(parts, { nodeId, leaseMs, logger });
  const eventLog = new RedisEventLog(
    { ...parts, reader: connections.reader },
    {
      maxEventsPerSession,
      maxBytesPerSession,
      tailEvents,
      logger,
      onRunCompleted: (sessionId, runId) => runs.completedByLog(sessionId, runId),
    },
  );
  const sessions = new RedisSessionStore(parts);
  const bus = new RedisNodeBus(command, connections.subscriber, keys, nodeId, status, logger);
  const shells = new RedisShellRegistry(parts, nodeId, leaseMs, logger);
  const registry = new NodeRegistry(parts, nodeId, leaseMs, logger);

  const closeParts = async () => {
    await eventLog.closeAsync(CLOSE_WRITE_TIMEOUT_MS);
    await runs.close();
    await shells.close();
    await registry.close();
    await connections.close();
    await eventLog.readerFinished();
  };

  try {
    await bus.start();
    await registry.start();
  } catch (error) {
    await closeParts().catch(() => undefined);
    throw new Error(`Redis cluster backend could not start: ${status.describe(error)}`);
  }

  let closing: Promise<void> | null = null;
  return {
    nodeId,
    eventLog,
    sessions,
    runs,
    bus,
    shells,
    health(): BackendHealth {
      return status.health();
    },
    nodes: () => registry.alive(),
    close() {
      closing ??= closeParts();
      return closing;
    },
  };
}
