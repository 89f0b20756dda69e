/**
 * Request/response over a forked child's IPC channel: the orchestrator drives servers and load
 * generators that each run in their own process, so neither side's CPU time pollutes the other's.
 * Every call has a deadline; a child that dies rejects every call in flight.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What a child offers: each method takes one JSON-serializable argument and returns JSON. */
export type Api = Record<string, (params: never) => unknown>;

type Params<F> = F extends (params: infer P) => unknown ? P : never;
type Result<F> = F extends (...args: never[]) => infer R ? Awaited<R> : never;

interface Request {
  id: number;
  method: string;
  params: unknown;
}
interface Response {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

export interface Remote<A extends Api> {
  readonly pid: number;
  call<K extends keyof A & string>(method: K, params: Params<A[K]>, timeoutMs?: number): Promise<Result<A[K]>>;
  /** Asks the child to exit, then kills it if it has not within a second. */
  stop(): Promise<void>;
}

export const DEFAULT_CALL_TIMEOUT_MS = 120_000;

export interface SpawnOptions {
  /** Extra node flags (`--expose-gc`, `--cpu-prof` …). */
  nodeFlags?: string[];
  env?: Record<string, string>;
  /** Name used in error messages. */
  label?: string;
  /**
   * CPUs the child and all its threads may run on (a `taskset` list such as `"1"`). Ignored, with
   * a warning, where `taskset` is missing or refuses.
   */
  cpus?: string;
}

/** Forks `modulePath` (a .ts file next to the caller, resolved from `base`) under tsx. */
export function spawnChild<A extends Api>(moduleUrl: URL, options: SpawnOptions = {}): Remote<A> {
  const label = options.label ?? fileURLToPath(moduleUrl);
  const child: ChildProcess = fork(fileURLToPath(moduleUrl), [], {
    execArgv: ['--import', 'tsx', ...(options.nodeFlags ?? [])],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  if (options.cpus !== undefined && child.pid !== undefined) {
    // Every thread the child has now; threads it starts later inherit the mask of their creator.
    const pinned = spawnSync('taskset', ['-a', '-p', '-c', options.cpus, String(child.pid)], { encoding: 'utf8' });
    if (pinned.status !== 0) console.warn(`${label}: not pinned to CPU ${options.cpus} (${pinned.error?.message ?? pinned.stderr.trim()})`);
  }
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (raw) => {
    const message = raw as Response;
    const entry = pending.get(message.id);
    if (!entry) return;
    pending.delete(message.id);
    clearTimeout(entry.timer);
    if (message.ok) entry.resolve(message.value);
    else entry.reject(new Error(`${label}: ${message.error ?? 'failed'}`));
  });
  child.once('exit', (code, signal) => {
    exited = true;
    for (const entry of pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new Error(`${label} exited (${signal ?? code}) during a call`));
    }
    pending.clear();
  });
  return {
    pid: child.pid ?? -1,
    call(method, params, timeoutMs = DEFAULT_CALL_TIMEOUT_MS) {
      if (exited) return Promise.reject(new Error(`${label} has exited`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${label}: ${method} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
        child.send({ id, method, params } satisfies Request);
      });
    },
    async stop() {
      if (exited) return;
      child.send({ id: 0, method: '__exit', params: null } satisfies Request);
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitPromise;
      clearTimeout(killer);
    },
  };
}

/**
 * The child side: answers calls with `api`. `cleanup` runs before the process exits (on request,
 * or when the parent goes away), so servers close their sockets and temp files.
 */
export function serve(api: Record<string, (params: never) => unknown>, cleanup: () => Promise<void> | void = () => {}): void {
  if (!process.send) throw new Error('serve(): this module must be started by spawnChild()');
  let exiting = false;
  const exit = async () => {
    if (exiting) return;
    exiting = true;
    try {
      await cleanup();
    } catch (error) {
      console.error('cleanup failed:', error);
    }
    process.exit(0);
  };
  process.on('disconnect', () => void exit());
  process.on('message', (raw) => {
    const request = raw as Request;
    if (request.method === '__exit') {
      void exit();
      return;
    }
    const handler = api[request.method];
    const reply = (response: Response) => {
      if (process.connected) process.send?.(response);
    };
    if (!handler) {
      reply({ id: request.id, ok: false, error: `unknown method ${request.method}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(request.params as never))
      .then(
        (value) => reply({ id: request.id, ok: true, value: value ?? null }),
        (error: unknown) =>
          reply({ id: request.id, ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) }),
      );
  });
}
