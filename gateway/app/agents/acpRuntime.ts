/**
 * The ACP client runtime: a `ProviderRuntime` that runs each configured agent (Claude Code through
 * claude-code-acp, Gemini CLI, OpenCode, …) as a child process speaking the Agent Client Protocol.
 *
 * One run (`chat.send`):
 *   text { role: 'user', content }          the prompt, first, so the log holds both sides
 *   → the session's agent process (started, `initialize`d; `session/load` of the stored ACP id when
 *     the agent can, else `session/new`, announced with `writer.setSessionId`)
 *   → `session/prompt`; every `session/update` mapped by `updateMapping.ts`
 *   → exactly one `complete`, the run's last frame, from the prompt's `stopReason`:
 *       end_turn → success; cancelled → aborted; refusal, max_tokens, max_turn_requests →
 *       success false with `reason`
 *   Any failure (command not found, exit, no `initialize` answer in time, a non-JSON or oversize
 *   line, more than `maxUpdatesPerRun` updates) → `error { content }` + `complete { exitCode: 1 }`,
 *   and the process is stopped: the next run starts a fresh one, which loads the same ACP session.
 *
 * `abort` withdraws the run's permission requests (`permission_cancelled`), sends `session/cancel`
 * and waits `cancelGraceMs` for the turn to stop, else kills the process. It sends no `complete`:
 * the gateway sends the aborted one.
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';

import type { RequestPermissionResponse } from '@agentclientprotocol/sdk';

import { silentLogger, type Logger } from '../../logger.js';
import type { SpawnPty } from '../../shell/ptyProcesses.js';
import type { PermissionDecision, ProviderRuntime, RuntimeWriter } from '../../types.js';
import { resolveAcpLimits, type AcpLimits } from './acpLimits.js';
import { AgentFailure, type AgentConnection } from './agentConnection.js';
import { AgentPool, type LiveAgentSummary } from './agentPool.js';
import type { AgentSpec } from './agentSpecs.js';
import { PermissionRegistry, readPermissionOptions, type PendingAcpPermission } from './permissions.js';
import { createUpdateMapper, usageStatus, type UpdateMapper } from './updateMapping.js';

export interface AcpRuntimeOptions {
  agents: AgentSpec[];
  logger?: Logger;
  limits?: Partial<AcpLimits>;
  /** Serve `terminal/*` (and declare it in `initialize`). Default true. */
  terminals?: boolean;
  /** node-pty's spawn for terminals (a host that wraps it). */
  spawnPty?: SpawnPty;
  /** The environment agents inherit (minus GATEWAY_TOKEN). Default process.env. */
  env?: NodeJS.ProcessEnv;
}

export type AcpRuntime = ProviderRuntime & {
  readonly providers: string[];
  /** Live agent processes, for diagnostics. */
  liveAgents(): LiveAgentSummary[];
  /** Stops every agent process (and its process group); later runs fail. */
  close(): Promise<void>;
};

interface AcpRun {
  appSessionId: string;
  provider: string;
  writer: RuntimeWriter;
  mapper: UpdateMapper;
  connection: AgentConnection | null;
  /** No frame may follow: the `complete` was sent, or the run was aborted (the gateway completes it). */
  ended: boolean;
  aborted: boolean;
  updates: number;
  /** A failure found outside the prompt's promise (a flood), reported instead of its rejection. */
  failure: string | null;
  permissions: Set<string>;
  done: Promise<void>;
}

const STOP_REASONS_FAILED = new Set(['refusal', 'max_tokens', 'max_turn_requests']);

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export function createAcpRuntime(options: AcpRuntimeOptions): AcpRuntime {
  const logger = options.logger ?? silentLogger;
  const limits = resolveAcpLimits(options.limits);
  const specs = new Map<string, AgentSpec>();
  for (const spec of options.agents) {
    if (specs.has(spec.name)) throw new TypeError(`Agent "${spec.name}" is configured twice`);
    specs.set(spec.name, spec);
  }
  const pool = new AgentPool({
    limits,
    logger,
    terminals: options.terminals !== false,
    ...(options.spawnPty ? { spawnPty: options.spawnPty } : {}),
    ...(options.env ? { baseEnv: options.env } : {}),
  });
  const permissions = new PermissionRegistry();
  const runs = new Map<string, AcpRun>();
  let closed = false;

  const emit = (run: AcpRun, frames: Array<Record<string, unknown>>) => {
    if (run.ended) return;
    for (const frame of frames) run.writer.send({ ...frame, provider: run.provider });
  };

  /** Withdraws the run's open permission requests; their notices go out while the run can still send. */
  const withdrawPermissions = (run: AcpRun) => {
    for (const requestId of run.permissions) {
      if (permissions.cancel(requestId)) emit(run, run.mapper.frame('permission_cancelled', { requestId, reason: 'cancelled' }));
    }
    run.permissions.clear();
  };

  /** The run's last frames: withdrawn permissions, an error when it failed, then its one `complete`. */
  const endRun = (run: AcpRun, complete: Record<string, unknown>, error: string | null) => {
    if (run.ended) return;
    withdrawPermissions(run);
    if (error !== null) emit(run, run.mapper.frame('error', { content: error }));
    emit(run, run.mapper.frame('complete', complete));
    run.ended = true;
  };

  /**
   * Counts one message of the agent's turn (an update or a permission request) against
   * `maxUpdatesPerRun`; past it the run fails and the process is stopped. False: drop the message.
   */
  const countMessage = (run: AcpRun, connection: AgentConnection): boolean => {
    if (run.ended) return false;
    run.updates++;
    if (run.updates <= limits.maxUpdatesPerRun) return true;
    if (run.failure === null) {
      run.failure = `Agent "${run.provider}" sent more than ${limits.maxUpdatesPerRun} updates in one turn (maxUpdatesPerRun); it was stopped.`;
      logger.warn('ACP agent flooded updates; stopping it', { agent: run.provider, appSessionId: run.appSessionId });
      void pool.discard(connection);
    }
    return false;
  };

  const requestPermission = (
    run: AcpRun,
    connection: AgentConnection,
    params: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<RequestPermissionResponse> => {
    const cancelled: RequestPermissionResponse = { outcome: { outcome: 'cancelled' } };
    if (!countMessage(run, connection)) return Promise.resolve(cancelled);
    if (run.permissions.size >= limits.maxOpenPermissionsPerRun) {
      logger.warn('ACP agent asked for more permissions at once than maxOpenPermissionsPerRun; cancelled', {
        agent: run.provider,
        appSessionId: run.appSessionId,
      });
      return Promise.resolve(cancelled);
    }
    const toolCall = (typeof params.toolCall === 'object' && params.toolCall !== null ? params.toolCall : {}) as Record<string, unknown>;
    const toolId = typeof toolCall.toolCallId === 'string' ? toolCall.toolCallId : null;
    const toolName =
      (typeof toolCall.title === 'string' && toolCall.title) || (typeof toolCall.kind === 'string' && toolCall.kind) || 'tool';
    const input = toolCall.rawInput ?? {};
    const options = readPermissionOptions(params.options);
    const requestId = randomUUID();
    const pending: PendingAcpPermission = {
      requestId,
      sessionId: run.appSessionId,
      providerSessionId: run.connection?.sessionId ?? null,
      toolName,
      toolId,
      input,
      options,
    };
    return new Promise((resolve) => {
      permissions.add(pending, (outcome) => {
        run.permissions.delete(requestId);
        resolve({ outcome });
      });
      run.permissions.add(requestId);
      emit(run, run.mapper.frame('permission_request', { requestId, toolName, toolId, input, toolInput: input, options }));
      // The agent withdrew the request ($/cancel_request, or the connection closed).
      signal.addEventListener('abort', () => {
        if (permissions.cancel(requestId)) emit(run, run.mapper.frame('permission_cancelled', { requestId, reason: 'cancelled' }));
      });
    });
  };

  const sinkFor = (run: AcpRun, connection: AgentConnection) => ({
    update(update: unknown) {
      if (countMessage(run, connection)) emit(run, run.mapper.update(update));
    },
    requestPermission: (params: Record<string, unknown>, signal: AbortSignal) => requestPermission(run, connection, params, signal),
  });

  async function drive(run: AcpRun, spec: AgentSpec, prompt: string, projectPath: string): Promise<void> {
    const connection = pool.acquire(run.appSessionId, spec, projectPath);
    run.connection = connection;
    try {
      const opened = await connection.openSession(run.writer.getSessionId());
      if (run.aborted) return;
      if (opened.sessionId !== run.writer.getSessionId()) run.writer.setSessionId(opened.sessionId);
      if (opened.loadFailure) {
        emit(run, [{ kind: 'status', text: `Could not resume the agent's earlier session (${opened.loadFailure}); started a new one.` }]);
      }
      connection.setSink(sinkFor(run, connection));
      const response = await connection.prompt(prompt);
      if (run.failure !== null) throw new AgentFailure(run.failure);
      if (run.aborted) return;
      const usage = usageStatus((response as { usage?: unknown }).usage);
      if (usage) emit(run, [{ kind: 'status', ...usage }]);
      const stopReason = response.stopReason;
      if (stopReason === 'cancelled') endRun(run, { exitCode: 0, aborted: true, success: false, stopReason }, null);
      else if (STOP_REASONS_FAILED.has(stopReason)) endRun(run, { exitCode: 1, aborted: false, success: false, stopReason, reason: stopReason }, null);
      else endRun(run, { exitCode: 0, aborted: false, success: true, stopReason }, null);
    } catch (error) {
      if (run.aborted) return;
      const message = run.failure ?? (error instanceof AgentFailure ? error.message : `Agent "${run.provider}" failed: ${messageOf(error)}`);
      logger.warn('ACP run failed', { agent: run.provider, appSessionId: run.appSessionId, error: message });
      endRun(run, { exitCode: 1, aborted: false, success: false }, message);
      // A process that failed a run is not trusted with the next: that one starts fresh (and loads).
      await pool.discard(connection);
    } finally {
      connection.setSink(null);
      pool.release(connection);
    }
  }

  return {
    providers: [...specs.keys()],

    hasRuntime(provider: string): boolean {
      return specs.has(provider);
    },

    async run(provider, command, runOptions, writer) {
      const spec = specs.get(provider);
      if (!spec) throw new Error(`No ACP agent is configured for provider "${provider}"`);
      const prompt = typeof command === 'string' ? command : String(command);
      const appSessionId = typeof runOptions.sessionId === 'string' && runOptions.sessionId ? runOptions.sessionId : `unnamed-${randomUUID()}`;
      const projectPath = typeof runOptions.projectPath === 'string' && runOptions.projectPath ? runOptions.projectPath : typeof runOptions.cwd === 'string' ? runOptions.cwd : '';
      let settle!: () => void;
      const run: AcpRun = {
        appSessionId,
        provider,
        writer,
        mapper: null as unknown as UpdateMapper,
        connection: null,
        ended: false,
        aborted: false,
        updates: 0,
        failure: null,
        permissions: new Set(),
        done: new Promise<void>((resolve) => (settle = resolve)),
      };
      run.mapper = createUpdateMapper({
        maxTrackedToolCalls: limits.maxTrackedToolCalls,
        terminalOutput: (terminalId) => run.connection?.terminalOutput(terminalId) ?? null,
      });
      runs.set(appSessionId, run);
      try {
        emit(run, [{ kind: 'text', role: 'user', content: prompt }]);
        if (closed) {
          endRun(run, { exitCode: 1, aborted: false, success: false }, 'The gateway is shutting down; the agent was not started.');
        } else if (!isDirectory(projectPath)) {
          endRun(run, { exitCode: 1, aborted: false, success: false }, `The session's project path is not a directory: "${projectPath}". Create the session with an existing projectPath.`);
        } else {
          await drive(run, spec, prompt, projectPath).catch((error: unknown) => {
            // acquire() refused (every process busy) or the pool failed: still one error and one complete.
            endRun(run, { exitCode: 1, aborted: false, success: false }, error instanceof AgentFailure ? error.message : `Agent "${provider}" failed: ${messageOf(error)}`);
          });
        }
      } finally {
        run.ended = true;
        if (runs.get(appSessionId) === run) runs.delete(appSessionId);
        settle();
      }
      return undefined;
    },

    async abort(provider, sessionId) {
      const run = runs.get(sessionId) ?? [...runs.values()].find((candidate) => candidate.connection?.sessionId === sessionId);
      if (!run || run.provider !== provider || run.aborted) return false;
      withdrawPermissions(run);
      run.aborted = true;
      run.ended = true;
      const connection = run.connection;
      connection?.cancel();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stopped = await Promise.race([
        run.done.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), limits.cancelGraceMs))),
      ]);
      clearTimeout(timer);
      if (!stopped && connection) {
        logger.warn('ACP agent did not stop its turn after session/cancel; killing it', { agent: provider, appSessionId: run.appSessionId });
        await pool.discard(connection);
        await run.done;
      }
      return true;
    },

    resolveToolApproval(requestId: string, decision: PermissionDecision): void {
      permissions.resolve(requestId, decision);
    },

    getPendingApprovalsForSession(sessionId: string): PendingAcpPermission[] {
      return permissions.listFor(sessionId);
    },

    liveAgents: () => pool.list(),

    async close() {
      closed = true;
      await pool.closeAll();
    },
  };
}
