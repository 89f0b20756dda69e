/**
 * The standalone server in cluster mode (`--redis`): opening the shared backend with an answer a
 * user can act on, and the REST routes' reads and writes against it instead of the node's SQLite
 * file. Sessions, logs and runs are the cluster's, so every node answers the same for them;
 * `/api/actors` and `/shell` stay this node's (the gateway names the node there).
 */
import type { ClusterBackend, RedisClusterOptions } from '../../../persistence/cluster/types.js';
import { withinDeadline } from '../../deadline.js';
import type { GatewayHandle } from '../../createWebSocketServer.js';
import { redactRedisUrl } from './options.js';
import type { RunningRunSummary } from './rest.js';
import type { SessionRoutesDeps } from './restSessions.js';

/**
 * How long the start waits for the backend. A Redis that does not answer by then (a wrong host
 * whose packets are dropped, a port that is not Redis) fails the start instead of hanging it.
 */
export const CLUSTER_OPEN_TIMEOUT_MS = 15_000;

/**
 * `openRedisCluster`, imported when a node is started with `--redis`: run from source, a single
 * node never loads the Redis client (dist/cli.js is one bundle, which imports it at start).
 */
async function openRedis(options: RedisClusterOptions): Promise<ClusterBackend> {
  const { openRedisCluster } = await import('../../../persistence/redis/redisCluster.js');
  return openRedisCluster(options);
}

/** Opens the backend, or throws an Error whose message names the URL without its password. */
export async function openClusterBackend(
  options: RedisClusterOptions,
  open: (options: RedisClusterOptions) => Promise<ClusterBackend> = openRedis,
  timeoutMs = CLUSTER_OPEN_TIMEOUT_MS,
): Promise<ClusterBackend> {
  const shown = redactRedisUrl(options.url);
  const opening = Promise.resolve().then(() => open(options));
  try {
    return await withinDeadline(opening, timeoutMs);
  } catch (error) {
    // A backend that opens after we gave up must not keep the process alive.
    opening.then((late) => late.close()).catch(() => undefined);
    throw new Error(`cannot open the Redis backend at ${shown} (--redis): ${withoutPassword(messageOf(error), options.url)}`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A client library may echo the URL it was given: its password never reaches the terminal. */
function withoutPassword(text: string, url: string): string {
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    return text;
  }
  return password === '' ? text : text.split(password).join('***');
}

/**
 * The latest and oldest seq of a session, one backend round trip for the calls of one turn
 * (history asks both bounds at once).
 */
function sharedSeqBounds(cluster: ClusterBackend): (sessionId: string) => Promise<{ latestSeq: number; oldestSeq: number }> {
  const inFlight = new Map<string, Promise<{ latestSeq: number; oldestSeq: number }>>();
  return (sessionId) => {
    let bounds = inFlight.get(sessionId);
    if (!bounds) {
      bounds = cluster.eventLog.seqBounds(sessionId).finally(() => inFlight.delete(sessionId));
      inFlight.set(sessionId, bounds);
    }
    return bounds;
  };
}

/**
 * The session routes on the backend. History is read from the backend's log, which holds only
 * what was acknowledged there: durable already, so no `whenWritten`. "Running" is cluster-wide:
 * a session with an unfinished run on any node (its node alive or not: a dead node's run is
 * taken over and ended by another) cannot be deleted.
 */
export function clusterSessionRoutes(cluster: ClusterBackend, gateway: () => GatewayHandle | null): SessionRoutesDeps {
  const seqBounds = sharedSeqBounds(cluster);
  return {
    listSessions: (page) => cluster.sessions.listSessions(page),
    deleteSession: (sessionId) => cluster.sessions.deleteSession(sessionId),
    hasSession: async (sessionId) => (await cluster.sessions.getSession(sessionId)) !== null,
    isRunning: async (sessionId) => (await cluster.runs.get(sessionId)) !== null,
    history: {
      read: (sessionId, afterSeq, limit) => cluster.eventLog.readHistory(sessionId, afterSeq, limit),
      latestSeq: async (sessionId) => (await seqBounds(sessionId)).latestSeq,
      oldestSeq: async (sessionId) => (await seqBounds(sessionId)).oldestSeq,
    },
    async forgetSession(sessionId) {
      // This node's live actor first (false while it runs a run here), then the shared log.
      const handle = gateway();
      if (handle && !handle.forgetSession(sessionId)) return false;
      await cluster.eventLog.forgetSessionAsync(sessionId);
      return true;
    },
  };
}

/** `GET …/sessions/running` in cluster mode: every node's runs, each naming its node. */
export function clusterRunningRuns(cluster: ClusterBackend): () => Promise<RunningRunSummary[]> {
  const seqBounds = sharedSeqBounds(cluster);
  return async () => {
    const runs = await cluster.runs.list();
    // One bounds lookup per run, in parallel: `lastSeq` as the single-node answer has it.
    return Promise.all(
      runs.map(async (run) => ({
        sessionId: run.sessionId,
        provider: run.provider,
        startedAt: run.startedAt,
        lastSeq: (await seqBounds(run.sessionId)).latestSeq,
        nodeId: run.nodeId,
      })),
    );
  };
}
