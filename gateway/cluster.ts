/**
 * `agent-gateway/cluster`: the Redis backend for hosts that run several gateway nodes
 * (docs/CLUSTER.md). Open it once per process and pass it as `cluster` in
 * `createWebSocketServer`'s deps; close it after the gateway. A separate entry so that a single
 * node never loads the Redis client.
 */
export {
  openRedisCluster,
  MAX_MIRROR_BYTES,
  MAX_UNWRITTEN_BYTES,
  MAX_UNWRITTEN_EVENTS,
  SessionExistsError,
} from '../persistence/redis/redisCluster.js';
export {
  DEFAULT_RUN_LEASE_MS,
  type BackendHealth,
  type ClusterBackend,
  type ClusterEventLog,
  type ClusterSessionStore,
  type RedisClusterOptions,
  type RunLeases,
  type RunRecordShape,
} from '../persistence/cluster/types.js';
