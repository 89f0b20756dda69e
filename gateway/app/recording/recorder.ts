/**
 * Records a live gateway session as a scenario file (docs/SCENARIOS.md): every frame a client
 * sends, every call the gateway makes to the provider runtime and everything the runtime sends
 * back, every PTY chunk and exit, and every frame the gateway sends, each with its time since
 * the recording started. Replaying the file (`npm run scenario -- file`) drives a fresh gateway
 * with the same inputs and expects the same outbound frames.
 *
 *   const recorder = createSessionRecorder({ sessions });
 *   const gateway = createWebSocketServer(server, {
 *     ...deps,
 *     chat: { runtime: recorder.wrapRuntime(runtime) },
 *     shell: { spawnPty: recorder.wrapSpawnPty(nodePty.spawn) },
 *   });
 *   recorder.attach(gateway);
 *   …
 *   writeFileSync('session.scenario.json', recorder.toJSON());
 *
 * Not recorded: `/plugin-ws/*` tunnels (their upstream lives outside the gateway) and upgrades
 * that were refused. Every client replays as the scenario's one default user.
 */
import type { IncomingMessage } from 'node:http';

import type { RawData, WebSocket } from 'ws';

import { DEFAULT_LIMITS } from '../../config.js';
import type { GatewayHandle } from '../../createWebSocketServer.js';
import type { SpawnPty } from '../../shell/ptyProcesses.js';
import type { ProviderRuntime, RuntimeWriter } from '../../types.js';
import type { SessionStore } from '../../../persistence/types.js';
import { expectedFrame, literal, pattern, RunIdNames, toJson, type JsonValue } from './recordedValues.js';

type Step = { [key: string]: JsonValue } & { at: number };

/** A step and the synchronous stretch of code it was recorded in (see `pushEmit`). */
interface RecordedStep {
  step: Step;
  burst: number;
}

interface SessionRow {
  provider: string;
  projectPath: string | null;
  providerSessionId?: string;
}

export interface SessionRecorderOptions {
  /** Where the rows of the sessions clients use are read from (at their first mention). */
  sessions?: SessionStore;
  /** Milliseconds; injectable for tests. */
  now?: () => number;
}

export interface SessionRecorder {
  /** The runtime to give the gateway: calls pass through to `runtime` and are recorded. */
  wrapRuntime(runtime: ProviderRuntime): ProviderRuntime;
  /** node-pty's spawn, wrapped so every PTY's output and exit are recorded. */
  wrapSpawnPty(spawn: SpawnPty): SpawnPty;
  /** Starts watching a gateway's sockets. */
  attach(gateway: GatewayHandle): void;
  /** Where session rows are read from, when the store only exists once the gateway runs. */
  readSessionsFrom(store: SessionStore): void;
  /** The recording so far, as a scenario object. */
  toScenario(name?: string): Record<string, JsonValue>;
  /** The recording so far, as scenario file text. */
  toJSON(name?: string): string;
}

const PLUGIN_PATH = /^\/plugin-ws\//;

/** The request path without its token (a recording never holds a credential). */
function pathWithoutToken(url: string | undefined): string {
  const parsed = new URL(url ?? '/', 'http://recording.invalid');
  parsed.searchParams.delete('token');
  const query = parsed.searchParams.toString();
  return query ? `${parsed.pathname}?${query}` : parsed.pathname;
}

function rawText(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function sessionIdsIn(frame: unknown): string[] {
  if (!frame || typeof frame !== 'object' || Array.isArray(frame)) return [];
  const record = frame as Record<string, unknown>;
  const ids: string[] = [];
  if (typeof record.sessionId === 'string') ids.push(record.sessionId.trim());
  if (Array.isArray(record.sessions)) {
    for (const entry of record.sessions) {
      if (typeof entry === 'string') ids.push(entry.trim());
      else if (entry && typeof entry === 'object' && typeof (entry as { sessionId?: unknown }).sessionId === 'string') {
        ids.push((entry as { sessionId: string }).sessionId.trim());
      }
    }
  }
  return ids.filter((id) => id.length > 0);
}

export function createSessionRecorder(options: SessionRecorderOptions = {}): SessionRecorder {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const recorded: RecordedStep[] = [];
  /** Recording events from one synchronous stretch share a burst number; a microtask ends it. */
  let burst = 0;
  let burstOpen = false;
  const currentBurst = () => {
    if (!burstOpen) {
      burstOpen = true;
      burst += 1;
      queueMicrotask(() => {
        burstOpen = false;
      });
    }
    return burst;
  };
  const sessions = new Map<string, SessionRow>();
  const providers = new Set<string>();
  const runIds = new RunIdNames();
  let limits: Record<string, number> = {};
  let clientCount = 0;
  let runCount = 0;
  let store = options.sessions;
  let ptyCount = 0;

  const at = () => now() - startedAt;
  const push = (step: Omit<Step, 'at'>) => {
    recorded.push({ step: { ...step, at: at() } as Step, burst: currentBurst() });
  };

  /** Consecutive frames to one client share one `expect` step. */
  const pushExpected = (client: string, frame: JsonValue) => {
    const last = recorded[recorded.length - 1]?.step;
    const expected = expectedFrame(frame, runIds);
    if (last && last.expect === client && Array.isArray(last.frames)) last.frames.push(expected);
    else push({ expect: client, frames: [expected] });
  };

  /**
   * Messages a runtime sent back to back, with nothing but their own frames in between, are
   * one step: a replay sends them in one go too, so nothing the gateway does a microtask later
   * (a `session_upserted`) can land between them when it did not live.
   */
  const pushEmit = (run: string, message: JsonValue) => {
    const now = currentBurst();
    for (let i = recorded.length - 1; i >= 0 && recorded[i].burst === now; i--) {
      const { step } = recorded[i];
      if (step.runtime === run && Array.isArray(step.emit)) {
        step.emit.push(message);
        return;
      }
      if (!('expect' in step)) break;
    }
    push({ runtime: run, emit: [message] });
  };

  const noteSessions = (frame: unknown) => {
    if (!store) return;
    for (const sessionId of sessionIdsIn(frame)) {
      if (sessions.has(sessionId)) continue;
      // Read before the gateway handles the frame (our listener runs first), so the row is as it was.
      const row = store.getSession(sessionId);
      if (row && !(row instanceof Promise)) {
        sessions.set(sessionId, {
          provider: row.provider,
          projectPath: row.projectPath,
          ...(row.providerSessionId ? { providerSessionId: row.providerSessionId } : {}),
        });
      }
    }
  };

  const watchSocket = (ws: WebSocket, request: IncomingMessage) => {
    const path = pathWithoutToken(request.url);
    if (PLUGIN_PATH.test(path)) return;
    const name = `c${++clientCount}`;
    push({ connect: name, path });
    let closedByGateway = false;

    ws.on('message', (data, isBinary) => {
      const bytes = rawText(data);
      if (isBinary) return void push({ send: name, binary: bytes.toString('base64') });
      const text = bytes.toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return void push({ send: name, text: literal(text) });
      }
      noteSessions(parsed);
      if (parsed !== null && typeof parsed === 'object') push({ send: name, frame: literal(toJson(parsed)) });
      else push({ send: name, text: literal(text) });
    });

    const send = ws.send.bind(ws) as (...args: unknown[]) => void;
    (ws as unknown as { send: (...args: unknown[]) => void }).send = (data: unknown, ...rest: unknown[]) => {
      if (ws.readyState === ws.OPEN) {
        const text = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
        let frame: JsonValue;
        try {
          frame = JSON.parse(text) as JsonValue;
        } catch {
          frame = { text };
        }
        pushExpected(name, frame);
      }
      send(data, ...rest);
    };
    const close = ws.close.bind(ws);
    ws.close = (code?: number, reason?: string | Buffer) => {
      // `ws` answers a client's close frame by calling close() itself: that close is the client's.
      const answeringClient = (ws as unknown as { _closeFrameReceived?: boolean })._closeFrameReceived === true;
      if (!closedByGateway && !answeringClient && ws.readyState === ws.OPEN) {
        closedByGateway = true;
        push({ expectClose: name, ...(code === undefined ? {} : { code }), ...(reason === undefined ? {} : { reason: String(reason) }) });
      }
      close(code, reason);
    };
    const terminate = ws.terminate.bind(ws);
    ws.terminate = () => {
      if (!closedByGateway && ws.readyState !== ws.CLOSED) {
        closedByGateway = true;
        push({ expectClose: name, code: 1006 });
      }
      terminate();
    };
    ws.on('close', (code) => {
      if (closedByGateway) return;
      if (code === 1006) push({ drop: name });
      else push({ close: name, ...(code === 1005 ? {} : { code }) });
    });
  };

  const recorder: SessionRecorder = {
    wrapRuntime(runtime) {
      const runs: Array<{ name: string; sessionId: unknown; settled: boolean }> = [];
      const approvals: JsonValue[] = [];
      return {
        hasRuntime(provider) {
          const has = runtime.hasRuntime(provider);
          if (has) providers.add(provider);
          return has;
        },
        run(provider, content, runOptions, writer) {
          const run = { name: `r${++runCount}`, sessionId: runOptions.sessionId, settled: false };
          runs.push(run);
          providers.add(provider);
          push({ runtime: run.name, start: pattern(toJson({ provider, content, options: runOptions })) });
          const recordingWriter: RuntimeWriter = {
            get userId() {
              return writer.userId;
            },
            isWebSocketWriter: true,
            send(message) {
              pushEmit(run.name, literal(toJson(message)));
              writer.send(message);
            },
            setSessionId(id) {
              push({ runtime: run.name, setSessionId: literal(toJson(id)) });
              writer.setSessionId(id);
            },
            getSessionId: () => writer.getSessionId(),
          };
          let result: Promise<unknown>;
          try {
            result = Promise.resolve(runtime.run(provider, content, runOptions, recordingWriter));
          } catch (error) {
            result = Promise.reject(error);
          }
          return result.then(
            (value) => {
              run.settled = true;
              push({ runtime: run.name, resolve: literal(toJson(value ?? null)) });
              return value;
            },
            (error: unknown) => {
              run.settled = true;
              push({ runtime: run.name, reject: error instanceof Error ? error.message : String(error) });
              throw error;
            },
          );
        },
        async abort(provider, sessionId) {
          const run = [...runs].reverse().find((candidate) => candidate.sessionId === sessionId && !candidate.settled);
          if (run) push({ runtime: run.name, awaitAbort: true });
          try {
            const answer = await runtime.abort(provider, sessionId);
            if (run) push({ runtime: run.name, answerAbort: answer === true });
            return answer;
          } catch (error) {
            if (run) push({ runtime: run.name, answerAbort: 'throw' });
            throw error;
          }
        },
        resolveToolApproval: (requestId, decision) => {
          // Replay waits for the answer to reach the runtime before the runtime goes on, as the
          // live runtime did: otherwise a scripted runtime could finish the run first and the
          // answer would find no pending request.
          approvals.push(literal(toJson({ requestId, decision })));
          push({ expectRuntime: { approvals: [...approvals] } });
          runtime.resolveToolApproval(requestId, decision);
        },
        getPendingApprovalsForSession: (sessionId) => runtime.getPendingApprovalsForSession(sessionId),
      };
    },

    wrapSpawnPty(spawn) {
      return ((file: string, args: string[] | string, ptyOptions: Parameters<SpawnPty>[2]) => {
        const handle = spawn(file, args, ptyOptions);
        const name = `p${++ptyCount}`;
        const argv = Array.isArray(args) ? args : [args];
        push({ pty: name, spawned: { command: pattern(argv[argv.length - 1] ?? '') } });
        // After the gateway kills a PTY, what it still prints or how it dies reaches nobody.
        let killed = false;
        const kill = handle.kill.bind(handle);
        handle.kill = (signal?: string) => {
          killed = true;
          kill(signal);
        };
        handle.onData((data) => {
          if (!killed) push({ pty: name, output: literal(data) });
        });
        handle.onExit(({ exitCode, signal }) => {
          if (!killed) push({ pty: name, exit: { code: exitCode, ...(signal ? { signal } : {}) } });
        });
        return handle;
      }) as SpawnPty;
    },

    attach(gateway) {
      limits = {};
      for (const [key, value] of Object.entries(gateway.limits)) {
        if (value !== (DEFAULT_LIMITS as Record<string, number>)[key]) limits[key] = value;
      }
      gateway.wss.on('connection', (ws: WebSocket, request: IncomingMessage) => watchSocket(ws, request));
    },

    readSessionsFrom(sessionStore) {
      store = sessionStore;
    },

    toScenario(name = 'recorded session') {
      const sessionSpecs: Record<string, JsonValue> = {};
      for (const [sessionId, row] of sessions) sessionSpecs[sessionId] = { ...row };
      return {
        name,
        description: `Recorded ${new Date(startedAt).toISOString()}; replay with npm run scenario -- <this file>.`,
        gateway: {
          runtime: { kind: 'scripted', providers: [...providers], onAbort: 'manual' },
          ...(Object.keys(limits).length > 0 ? { limits } : {}),
        },
        sessions: sessionSpecs,
        timing: 'recorded',
        steps: recorded.map(({ step }) => ({ ...step })),
      };
    },

    toJSON(name) {
      // One step a line: a recording reads (and diffs) as a sequence of events.
      const { steps: all, ...header } = recorder.toScenario(name);
      const steps = (all as JsonValue[]).map((step) => `    ${JSON.stringify(step)}`).join(',\n');
      const head = JSON.stringify(header, null, 2).replace(/\n}$/, '');
      return steps === '' ? `${head},\n  "steps": []\n}\n` : `${head},\n  "steps": [\n${steps}\n  ]\n}\n`;
    },
  };
  return recorder;
}
