/**
 * The built-in `demo` provider: a fake coding agent that needs no network, so the standalone
 * server (and the tests) can drive every part of the chat protocol by hand.
 *
 * One turn, for any prompt:
 *   session_created (only when the writer has no provider id yet: a resumed session keeps its id)
 *   → text { role: 'user', content: prompt } (the run's first frame, so history holds both sides)
 *   → status → thinking → 40–80 stream_delta words: readable sentences about the gateway, in order,
 *   chosen from the prompt deterministically
 *   → stream_end → tool_use (Bash or Read) → permission_request, then it waits for
 *   resolveToolApproval: allow → tool_result; deny → tool_result { isError: true, content: message };
 *   no answer within permissionTimeoutMs → permission_cancelled { reason: 'timeout' } + an error
 *   tool_result → a closing text → complete { exitCode: 0, success: true, aborted: false }.
 *
 * Special prompts (anywhere in the prompt, combinable) to try the failure paths:
 *   /throw            run() rejects with Error('demo runtime failure') before sending anything
 *   /no-complete      the turn ends without its `complete` (the gateway's safety net must close it)
 *   /double-complete  `complete` is sent twice (the gateway must drop the second)
 *   /no-tool          no tool_use and no permission step
 *   /stubborn         abort() answers false and the turn keeps running to its end
 *
 * abort() stops the turn of an app session (the `sessionId` in run()'s options), cancels its timers,
 * withdraws a pending permission (permission_cancelled { reason: 'cancelled' }, so an open dialog
 * closes) and sends no `complete` of its own: the gateway sends the synthetic one. run() then resolves.
 */
import { randomUUID } from 'node:crypto';

import type { PermissionDecision, ProviderRuntime, RuntimeWriter } from '../types.js';

export const DEMO_PROVIDER = 'demo';

/** ~20 words a second: a 40–80 word answer streams for 2–4 s, long enough to abort or reconnect by hand. */
const DEFAULT_DELTA_INTERVAL_MS = 50;
/** Long enough for a person to click; short enough that an abandoned demo turn ends on its own. */
const DEFAULT_PERMISSION_TIMEOUT_MS = 60_000;
const MIN_WORDS = 40;
const MAX_WORDS = 80;

/** The subset of timer functions the demo uses; an XState `SimulatedClock` fits it. */
export interface DemoTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface DemoRuntimeOptions {
  /** Pause between two stream_delta words; 0 sends them back to back (tests). Default 50. */
  deltaIntervalMs?: number;
  /** How long a permission_request waits for an answer. Default 60 000. */
  permissionTimeoutMs?: number;
  timers?: DemoTimers;
}

export interface DemoPendingApproval {
  requestId: string;
  toolName: string;
  input: Record<string, unknown>;
  /** The app session id. */
  sessionId: string;
}

export type DemoRuntime = ProviderRuntime & { readonly providers: string[] };

type Outcome = { kind: 'decided'; decision: PermissionDecision } | { kind: 'timeout' } | { kind: 'aborted' };

interface PendingApproval extends DemoPendingApproval {
  /** Set once the turn has announced it; lets a client ask with either id. */
  providerSessionId: string;
  timer: unknown;
  settle(outcome: Outcome): void;
  /** Tells clients the request is withdrawn (abort), while the turn can still send. */
  withdraw(): void;
}

interface DemoRun {
  /** App session id (or a private id when run() got none: such a run cannot be aborted). */
  sessionId: string;
  stubborn: boolean;
  aborted: boolean;
  /** Wakes the current pause early (abort). */
  wake: (() => void) | null;
  timer: unknown;
  approval: PendingApproval | null;
}

interface SpecialPrompts {
  throws: boolean;
  noComplete: boolean;
  doubleComplete: boolean;
  noTool: boolean;
  stubborn: boolean;
}

/**
 * What the demo says after echoing the prompt, a few sentences in an order picked by the prompt.
 * Whole sentences: shuffled words read like frames delivered out of order.
 */
const SENTENCES = [
  'I am the demo agent, so no model is involved and nothing leaves this machine.',
  'I stream this answer one word at a time, so you can watch it arrive.',
  'Drop the connection and come back: the gateway replays exactly what you missed, in order.',
  'Every frame carries a sequence number, and every run ends with exactly one complete.',
  'Open this session in a second tab and both follow the same run live.',
  'The log lives in SQLite, so a restart loses nothing that was written.',
  'Abort the run at any time and it ends cleanly, still with one complete.',
];
const TOOL_SENTENCE = 'Next I will look at your project, and I will ask before I run a tool.';
const NO_TOOL_SENTENCE = 'This time I will not use any tool.';

const defaultTimers: DemoTimers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

function parseSpecialPrompts(prompt: string): SpecialPrompts {
  return {
    throws: prompt.includes('/throw'),
    noComplete: prompt.includes('/no-complete'),
    doubleComplete: prompt.includes('/double-complete'),
    noTool: prompt.includes('/no-tool'),
    stubborn: prompt.includes('/stubborn'),
  };
}

/** FNV-1a: a stable seed so the same prompt always gets the same answer. */
function hashPrompt(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: tiny deterministic generator, good enough to pick words (and for specs' random streams). */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const wordsOf = (sentence: string) => sentence.split(' ');

/**
 * The words of the streamed answer, in reading order: the prompt echoed (its first words), then
 * sentences about the gateway in a prompt-seeded order, then what happens next (a tool or none).
 * Between MIN_WORDS and MAX_WORDS words.
 */
export function demoAnswerWords(prompt: string): string[] {
  const random = seededRandom(hashPrompt(prompt));
  const promptWords = prompt.split(/\s+/).filter((word) => word.length > 0 && !word.startsWith('/'));
  const echo = promptWords.length === 0 ? 'You sent an empty prompt.' : `You asked: "${promptWords.slice(0, 12).join(' ')}${promptWords.length > 12 ? '…' : ''}".`;
  const closing = prompt.includes('/no-tool') ? NO_TOOL_SENTENCE : TOOL_SENTENCE;
  const target = MIN_WORDS + Math.floor(random() * (MAX_WORDS - MIN_WORDS + 1));
  const order = SENTENCES.map((sentence) => ({ sentence, key: random() })).sort((a, b) => a.key - b.key);
  const words = wordsOf(echo);
  const budget = target - wordsOf(closing).length;
  for (const { sentence } of order) {
    if (words.length >= budget) break;
    if (words.length + wordsOf(sentence).length > MAX_WORDS - wordsOf(closing).length) continue;
    words.push(...wordsOf(sentence));
  }
  words.push(...wordsOf(closing));
  return words.slice(0, MAX_WORDS);
}

function summarize(prompt: string): string {
  const oneLine = prompt.replace(/\s+/g, ' ').trim();
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine;
}

function chooseTool(prompt: string, projectPath: string | null): { toolName: string; input: Record<string, unknown>; result: string } {
  if (hashPrompt(prompt) % 2 === 0) {
    return {
      toolName: 'Bash',
      input: { command: 'ls -la', description: 'List the project files' },
      result: 'total 24\ndrwxr-xr-x  5 demo demo 4096 .\n-rw-r--r--  1 demo demo  512 README.md\n-rw-r--r--  1 demo demo  128 package.json',
    };
  }
  const filePath = `${projectPath ?? '.'}/README.md`;
  return {
    toolName: 'Read',
    input: { file_path: filePath },
    result: '# Demo project\n\nThis file does not exist: the demo agent made it up.',
  };
}

export function createDemoRuntime(options: DemoRuntimeOptions = {}): DemoRuntime {
  const deltaIntervalMs = options.deltaIntervalMs ?? DEFAULT_DELTA_INTERVAL_MS;
  const permissionTimeoutMs = options.permissionTimeoutMs ?? DEFAULT_PERMISSION_TIMEOUT_MS;
  const timers = options.timers ?? defaultTimers;
  if (!Number.isFinite(deltaIntervalMs) || deltaIntervalMs < 0) {
    throw new TypeError(`deltaIntervalMs must be a finite number >= 0, got ${String(deltaIntervalMs)}`);
  }
  if (!Number.isFinite(permissionTimeoutMs) || permissionTimeoutMs < 0) {
    throw new TypeError(`permissionTimeoutMs must be a finite number >= 0, got ${String(permissionTimeoutMs)}`);
  }

  const runs = new Set<DemoRun>();
  const approvals = new Map<string, PendingApproval>();

  /** Resolves true when the pause ran out, false when abort() cut it short. */
  function pause(run: DemoRun, ms: number): Promise<boolean> {
    if (run.aborted) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      run.wake = () => {
        run.wake = null;
        timers.clearTimeout(run.timer);
        run.timer = undefined;
        resolve(false);
      };
      run.timer = timers.setTimeout(() => {
        run.wake = null;
        run.timer = undefined;
        resolve(true);
      }, ms);
    });
  }

  function askPermission(
    run: DemoRun,
    request: { requestId: string; toolName: string; input: Record<string, unknown>; providerSessionId: string; withdraw(): void },
  ): Promise<Outcome> {
    const { requestId } = request;
    return new Promise<Outcome>((resolve) => {
      const approval: PendingApproval = {
        ...request,
        sessionId: run.sessionId,
        timer: undefined,
        settle(result) {
          if (approvals.get(requestId) !== approval) return;
          approvals.delete(requestId);
          timers.clearTimeout(approval.timer);
          if (run.approval === approval) run.approval = null;
          resolve(result);
        },
      };
      approval.timer = timers.setTimeout(() => approval.settle({ kind: 'timeout' }), permissionTimeoutMs);
      approvals.set(requestId, approval);
      run.approval = approval;
    });
  }

  async function runTurn(command: string, runOptions: Record<string, unknown>, writer: RuntimeWriter, run: DemoRun, special: SpecialPrompts): Promise<void> {
    let providerSessionId = writer.getSessionId();
    if (providerSessionId === null) {
      providerSessionId = `demo-${randomUUID()}`;
      writer.send({ kind: 'session_created', newSessionId: providerSessionId, sessionId: providerSessionId, provider: DEMO_PROVIDER });
    }
    const sessionId = providerSessionId;
    /** Aborted turns go quiet at once: the gateway owns the end of an aborted run. */
    const send = (kind: string, fields: Record<string, unknown> = {}): void => {
      if (run.aborted) return;
      writer.send({ ...fields, kind, id: randomUUID(), timestamp: new Date().toISOString(), provider: DEMO_PROVIDER, sessionId });
    };

    send('text', { role: 'user', content: command });
    send('status', { text: 'Thinking', canInterrupt: true });
    const plan = special.noTool ? 'I will answer without using any tool.' : 'I will answer, then look at the project with a tool.';
    send('thinking', { content: `The user asked: "${summarize(command)}". ${plan}` });

    for (const word of demoAnswerWords(command)) {
      if (!(await pause(run, deltaIntervalMs))) return;
      send('stream_delta', { content: `${word} ` });
    }
    if (run.aborted) return;
    send('stream_end');

    let closing = 'That is all from the demo agent.';
    if (!special.noTool) {
      const projectPath = typeof runOptions.projectPath === 'string' ? runOptions.projectPath : null;
      const tool = chooseTool(command, projectPath);
      const toolId = `toolu_demo_${randomUUID()}`;
      send('tool_use', { toolName: tool.toolName, toolId, input: tool.input });
      const requestId = randomUUID();
      const outcome = askPermission(run, {
        requestId,
        toolName: tool.toolName,
        input: tool.input,
        providerSessionId: sessionId,
        withdraw: () => send('permission_cancelled', { requestId, reason: 'cancelled' }),
      });
      send('permission_request', { requestId, toolName: tool.toolName, toolId, input: tool.input });
      const answer = await outcome;
      if (answer.kind === 'aborted' || run.aborted) return;
      if (answer.kind === 'timeout') {
        send('permission_cancelled', { requestId, reason: 'timeout' });
        send('tool_result', { toolId, toolName: tool.toolName, content: 'Permission request timed out', isError: true });
        closing = 'Nobody answered the permission request, so I did not run the tool.';
      } else if (answer.decision.allow) {
        send('tool_result', { toolId, toolName: tool.toolName, content: tool.result, isError: false });
        closing = `I ran ${tool.toolName} and looked at the result. That is all from the demo agent.`;
      } else {
        const message = answer.decision.message || 'The user denied this tool use';
        send('tool_result', { toolId, toolName: tool.toolName, content: message, isError: true });
        closing = `You denied ${tool.toolName}, so I stopped there.`;
      }
    }

    send('text', { role: 'assistant', content: closing });
    if (special.noComplete) return;
    send('complete', { exitCode: 0, success: true, aborted: false });
    if (special.doubleComplete) send('complete', { exitCode: 0, success: true, aborted: false });
  }

  return {
    providers: [DEMO_PROVIDER],

    hasRuntime(provider: string): boolean {
      return provider === DEMO_PROVIDER;
    },

    async run(provider, command, runOptions, writer) {
      if (provider !== DEMO_PROVIDER) throw new Error(`The demo runtime does not run provider "${provider}"`);
      const prompt = typeof command === 'string' ? command : String(command);
      const special = parseSpecialPrompts(prompt);
      if (special.throws) throw new Error('demo runtime failure');
      const appSessionId = typeof runOptions.sessionId === 'string' && runOptions.sessionId ? runOptions.sessionId : `unnamed-${randomUUID()}`;
      const run: DemoRun = { sessionId: appSessionId, stubborn: special.stubborn, aborted: false, wake: null, timer: undefined, approval: null };
      runs.add(run);
      try {
        await runTurn(prompt, runOptions, writer, run, special);
      } finally {
        runs.delete(run);
        if (run.timer !== undefined) timers.clearTimeout(run.timer);
        run.approval?.settle({ kind: 'aborted' });
      }
      return undefined;
    },

    async abort(provider, sessionId) {
      if (provider !== DEMO_PROVIDER) return false;
      const targets = [...runs].filter((run) => run.sessionId === sessionId && !run.aborted);
      if (targets.length === 0) return false;
      let stopped = true;
      for (const run of targets) {
        if (run.stubborn) {
          stopped = false;
          continue;
        }
        const approval = run.approval;
        if (approval) {
          // Before `aborted` is set, so the notice still goes out and the client's dialog closes.
          approval.withdraw();
          approval.settle({ kind: 'aborted' });
        }
        run.aborted = true;
        run.wake?.();
      }
      return stopped;
    },

    resolveToolApproval(requestId: string, decision: PermissionDecision): void {
      approvals.get(requestId)?.settle({ kind: 'decided', decision });
    },

    getPendingApprovalsForSession(sessionId: string): DemoPendingApproval[] {
      return [...approvals.values()]
        .filter((approval) => approval.sessionId === sessionId || approval.providerSessionId === sessionId)
        .map(({ requestId, toolName, input, sessionId: appSessionId }) => ({ requestId, toolName, input, sessionId: appSessionId }));
    },
  };
}
