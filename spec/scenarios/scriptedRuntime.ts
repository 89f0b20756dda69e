/**
 * The scenario's provider runtime: each `run()` takes the next script (or none, and is driven
 * by `runtime` steps), sends its messages through the gateway's writer, waits on the scenario's
 * simulated clock for `delay`, and answers `abort()` by its policy. It also keeps the pending
 * tool approvals its runs announced, as real runtimes do, for `getPendingApprovalsForSession`.
 */
import type { PermissionDecision, ProviderRuntime, RuntimeWriter } from '../../gateway/types.js';
import type { AbortBehaviour, AbortPolicy, JsonObject, JsonValue, RunAction, RunScript } from './format.js';
import { parseDuration } from './substitute.js';
import type { Waiter } from './waiter.js';

export interface TimerClock {
  setTimeout(callback: () => void, ms: number): unknown;
}

export interface ScriptedRun {
  index: number;
  provider: string;
  content: string;
  options: Record<string, unknown>;
  writer: RuntimeWriter;
  settled: boolean;
  /** The gateway that started it is gone (restart): the run can no longer reach anyone. */
  dead: boolean;
  /** Set when an honoured abort or a settle ends the script early. */
  stopped: boolean;
  abort: AbortBehaviour | 'manual';
  /** `abort()` calls this run received. */
  abortCalls: number;
  /** A `manual` abort waiting for `answerAbort`. */
  pendingAbort: { resolve(value: boolean): void; reject(error: Error): void } | null;
  resolve(value?: unknown): void;
  reject(error: unknown): void;
}

interface PendingApproval {
  requestId: string;
  toolName: unknown;
  input: unknown;
  sessionId: string;
  run: ScriptedRun;
}

export interface ScriptedRuntime extends ProviderRuntime {
  readonly runs: ScriptedRun[];
  readonly aborts: string[];
  readonly approvals: Array<{ requestId: string; decision: PermissionDecision }>;
  /** Sends one message through a run's writer, as the runtime would (nothing once the run is dead). */
  emit(run: ScriptedRun, message: JsonObject): void;
  /** Every live run is cut off (the gateway it talked to is gone). */
  killAll(): void;
}

export interface ScriptedRuntimeOptions {
  providers: string[];
  scripts: RunScript[];
  defaultAbort: AbortPolicy;
  /** The current gateway's simulated clock (it changes on restart). */
  clock: () => TimerClock;
  waiter: Waiter;
}

export function resolveAbortPolicy(policy: AbortPolicy | undefined): AbortBehaviour | 'manual' {
  switch (policy ?? 'honour') {
    case 'honour':
      return { answer: true, then: 'resolve' };
    case 'ignore':
      return { answer: false, then: 'continue' };
    case 'hang':
      return { answer: 'hang', then: 'continue' };
    case 'throw':
      return { answer: 'throw', then: 'continue' };
    case 'manual':
      return 'manual';
    default:
      return policy as AbortBehaviour;
  }
}

/**
 * `"$fill:N"` becomes N `x` characters, `"$fill:N:TEXT"` TEXT repeated N times: big frames
 * without big scenario files.
 */
export function materialize(value: JsonValue): JsonValue {
  if (typeof value === 'string') {
    const fill = /^\$fill:(\d+)(?::([\s\S]*))?$/.exec(value);
    return fill ? (fill[2] ?? 'x').repeat(Number(fill[1])) : value;
  }
  if (Array.isArray(value)) return value.map(materialize);
  if (value && typeof value === 'object') {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) out[key] = materialize(item);
    return out;
  }
  return value;
}

export function createScriptedRuntime(options: ScriptedRuntimeOptions): ScriptedRuntime {
  const scripts = [...options.scripts];
  const pending = new Map<string, PendingApproval>();

  const forgetApprovalsOf = (run: ScriptedRun) => {
    for (const [requestId, approval] of pending) if (approval.run === run) pending.delete(requestId);
  };

  const trackApprovals = (run: ScriptedRun, message: JsonObject) => {
    const requestId = message.requestId;
    if (typeof requestId !== 'string') return;
    if (message.kind === 'permission_request') {
      pending.set(requestId, {
        requestId,
        toolName: message.toolName,
        input: message.input,
        sessionId: String(run.options.sessionId ?? ''),
        run,
      });
    } else if (message.kind === 'permission_cancelled') {
      pending.delete(requestId);
    }
  };

  const runtime: ScriptedRuntime = {
    runs: [],
    aborts: [],
    approvals: [],

    hasRuntime: (provider) => options.providers.includes(provider),

    run(provider, content, runOptions, writer) {
      const script = scripts.shift();
      return new Promise((resolvePromise, rejectPromise) => {
        const run: ScriptedRun = {
          index: runtime.runs.length,
          provider,
          content,
          options: runOptions,
          writer,
          settled: false,
          dead: false,
          stopped: false,
          abort: resolveAbortPolicy(script?.onAbort ?? options.defaultAbort),
          abortCalls: 0,
          pendingAbort: null,
          resolve(value) {
            if (run.settled) return;
            run.settled = true;
            run.stopped = true;
            forgetApprovalsOf(run);
            resolvePromise(value);
            options.waiter.wake();
          },
          reject(error) {
            if (run.settled) return;
            run.settled = true;
            run.stopped = true;
            forgetApprovalsOf(run);
            rejectPromise(error);
            options.waiter.wake();
          },
        };
        runtime.runs.push(run);
        options.waiter.wake();
        if (script?.script) void play(run, script.script);
      });
    },

    async abort(_provider, sessionId) {
      runtime.aborts.push(sessionId);
      options.waiter.wake();
      const run = [...runtime.runs].reverse().find((candidate) => candidate.options.sessionId === sessionId && !candidate.settled && !candidate.dead);
      if (!run) return false;
      run.abortCalls += 1;
      if (run.abort === 'manual') {
        return new Promise<boolean>((resolve, reject) => {
          run.pendingAbort = { resolve, reject };
          options.waiter.wake();
        });
      }
      const behaviour = run.abort;
      for (const message of behaviour.emit ?? []) runtime.emit(run, message);
      if (behaviour.then === 'resolve' || behaviour.then === 'reject') run.stopped = true;
      // The runtime's promise settles after abort() has answered, as a real runtime's would.
      if (behaviour.then === 'resolve') queueMicrotask(() => run.resolve(undefined));
      if (behaviour.then === 'reject') queueMicrotask(() => run.reject(new Error('aborted')));
      if (behaviour.answer === 'hang') return new Promise<boolean>(() => {});
      if (behaviour.answer === 'throw') throw new Error('abort failed');
      return behaviour.answer;
    },

    resolveToolApproval(requestId, decision) {
      runtime.approvals.push({ requestId, decision });
      pending.delete(requestId);
      options.waiter.wake();
    },

    getPendingApprovalsForSession(sessionId) {
      return [...pending.values()]
        .filter((approval) => approval.sessionId === sessionId)
        .map(({ requestId, toolName, input }) => ({ requestId, toolName, input, sessionId }));
    },

    emit(run, message) {
      if (run.dead) return;
      const materialized = materialize(message) as JsonObject;
      trackApprovals(run, materialized);
      run.writer.send(materialized);
    },

    killAll() {
      for (const run of runtime.runs) {
        run.dead = true;
        run.stopped = true;
        forgetApprovalsOf(run);
      }
    },
  };

  /** Plays a run's script; `delay` waits on the simulated clock, so only `advance` moves it on. */
  async function play(run: ScriptedRun, actions: RunAction[]): Promise<void> {
    for (const action of actions) {
      if (run.stopped || run.dead) return;
      if ('emit' in action) {
        const messages = Array.isArray(action.emit) ? action.emit : [action.emit];
        for (let i = 0; i < (action.repeat ?? 1); i++) for (const message of messages) runtime.emit(run, message);
      } else if ('setSessionId' in action) {
        if (!run.dead) run.writer.setSessionId(action.setSessionId);
      } else if ('delay' in action) {
        const ms = parseDuration(action.delay);
        await new Promise<void>((resolve) => options.clock().setTimeout(resolve, ms));
      } else if ('resolve' in action) {
        run.resolve(action.resolve);
        return;
      } else if ('throw' in action) {
        run.reject(new Error(action.throw));
        return;
      } else if ('hang' in action) {
        return;
      }
    }
    if (!run.stopped && !run.dead) run.resolve(undefined);
  }

  return runtime;
}
