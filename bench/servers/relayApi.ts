/**
 * The one interface both relay servers (the real gateway and the bare `ws` relay) answer, so
 * every workload drives them the same way. Server-side only: producing events and reading the
 * server process's own memory. Sockets are opened by the load generator, in its own process.
 */
/** The token both servers accept on the upgrade (the bare relay ignores it). */
export const BENCH_TOKEN = 'bench-token';

export interface ServerInfo {
  port: number;
  /** How clients speak to its chat route: the gateway's `/ws` protocol, or socket.io's. */
  protocol: 'ws' | 'socketio';
  pid: number;
  /** A directory PTYs may start in. */
  workDir: string;
}

export interface ProduceResult {
  /** Producer clock (µs, monotonic, system-wide) just before the first and after the last send. */
  startUs: number;
  endUs: number;
  sent: number;
  /** The seq of each session's latest event after this call. */
  lastSeqs: Record<string, number>;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** V8 heap spaces: committed size and used bytes (new_space, old_space, code_space…). */
  spaces: Record<string, { size: number; used: number }>;
}

export interface CpuSample {
  /** process.cpuUsage(): user + system µs since the process started. */
  cpuUs: number;
  atUs: number;
}

export interface RssWatch {
  startRss: number;
  maxRss: number;
  samples: number;
}

export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface RelayServerApi {
  [method: string]: (params: never) => unknown;
  info(params: null): ServerInfo;
  /** Sessions with a running run, ready for the producer. */
  createSessions(params: { count: number }): Promise<{ sessionIds: string[] }>;
  /** `perSession` events to each session, interleaved, `batch` sends per event-loop turn. */
  burst(params: { sessionIds: string[]; perSession: number; batch: number }): Promise<ProduceResult>;
  /** Starts a paced stream over the sessions (round-robin) that ends by itself after `durationMs`. */
  startStream(params: { sessionIds: string[]; ratePerSecond: number; durationMs: number }): null;
  /** Resolves when the stream has ended (by itself or by `stopStream`). */
  awaitStream(params: null): Promise<ProduceResult>;
  stopStream(params: null): Promise<ProduceResult>;
  /** Ends the sessions' runs (a `complete` each). */
  finishSessions(params: { sessionIds: string[] }): Promise<null>;
  /** After several full GCs when the process has `--expose-gc`. */
  memory(params: null): Promise<MemorySample>;
  /** Writes a V8 heap snapshot (for finding what a socket costs); returns the path. */
  heapSnapshot(params: { path: string }): string;
  /** CPU time the server process has used so far: the difference over a trial is its cost. */
  cpu(params: null): CpuSample;
  watchRss(params: { intervalMs: number }): null;
  /** Starts sampling the server's event-loop delay (perf_hooks, 1 ms resolution). */
  watchLoop(params: null): null;
  stopWatchLoop(params: null): LoopDelay;
  stopWatchRss(params: null): RssWatch;
}
