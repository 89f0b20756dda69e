/**
 * Every key and channel name of the Redis backend, in one place. A session's keys carry its id as
 * a hash tag (`{sessionId}`), so they share one slot and a script may touch all of them (the
 * cluster-wide sets `runs`, `sessions` and `nodes` are plain keys: the backend is one Redis).
 *
 * | key | type | holds |
 * |---|---|---|
 * | `<p>log:{sid}` | stream | the session's events, entry id `<seq>-0`, fields r (runId) k (kind) j (json) a (at) |
 * | `<p>meta:{sid}` | hash | `latest` (highest seq ever written), `bytes` (JSON bytes retained in the stream) |
 * | `<p>run:{sid}` | hash | the unfinished run: runId nodeId provider startedAt firstSeq pending token |
 * | `<p>lease:{sid}` | string, PX | the run lease's token |
 * | `<p>runs` | set | session ids with a run record |
 * | `<p>session:{sid}` | hash | the stored session: provider providerSessionId projectPath summary createdAt updatedAt |
 * | `<p>sessions` | zset | session id → updatedAt |
 * | `<p>nodes` | zset | node id → last announcement (the server's clock, ms) |
 * | `<p>shell:<key>` | string, PX | the node holding a `/shell` PTY |
 * | `<p>node:<nodeId>` | channel | `NodeMessage` JSON for that node |
 */

export const DEFAULT_KEY_PREFIX = 'ag:';

export class RedisKeys {
  constructor(readonly prefix: string = DEFAULT_KEY_PREFIX) {}

  log(sessionId: string): string {
    return `${this.prefix}log:{${sessionId}}`;
  }

  meta(sessionId: string): string {
    return `${this.prefix}meta:{${sessionId}}`;
  }

  run(sessionId: string): string {
    return `${this.prefix}run:{${sessionId}}`;
  }

  lease(sessionId: string): string {
    return `${this.prefix}lease:{${sessionId}}`;
  }

  session(sessionId: string): string {
    return `${this.prefix}session:{${sessionId}}`;
  }

  get runs(): string {
    return `${this.prefix}runs`;
  }

  get sessions(): string {
    return `${this.prefix}sessions`;
  }

  get nodes(): string {
    return `${this.prefix}nodes`;
  }

  shell(key: string): string {
    return `${this.prefix}shell:${key}`;
  }

  nodeChannel(nodeId: string): string {
    return `${this.prefix}node:${nodeId}`;
  }
}
