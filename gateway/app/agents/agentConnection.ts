/**
 * One app session's live agent: its process, the SDK's client side over the process's stdio, and
 * the ACP session inside it. It answers the agent's requests (fs, terminals, permissions through
 * the current run) and hands `session/update`s to the current run; between runs (and while a
 * `session/load` replays history we already logged) there is no run, and updates are dropped.
 *
 * Capabilities declared in `initialize` are exactly the handlers registered here: fs read/write
 * (confined to the project path) and, when `terminals` is on, the five terminal methods.
 */
import { client, PROTOCOL_VERSION, RequestError, type ClientConnection, type InitializeRequest, type InitializeResponse, type PromptResponse, type RequestPermissionResponse } from '@agentclientprotocol/sdk';

import type { Logger } from '../../logger.js';
import type { SpawnPty } from '../../shell/ptyProcesses.js';
import type { AcpLimits } from './acpLimits.js';
import { agentEnvironment, startAgentProcess, type AgentProcess } from './agentProcess.js';
import type { AgentSpec } from './agentSpecs.js';
import { readTextFileConfined, writeTextFileConfined } from './fsAccess.js';
import { createSessionTerminals, type SessionTerminals } from './terminals.js';

/** What the current run does with the agent's traffic. */
export interface RunSink {
  update(update: unknown): void;
  requestPermission(params: Record<string, unknown>, signal: AbortSignal): Promise<RequestPermissionResponse>;
}

export interface AgentConnectionOptions {
  spec: AgentSpec;
  appSessionId: string;
  projectPath: string;
  logger: Logger;
  limits: AcpLimits;
  terminals: boolean;
  spawnPty?: SpawnPty;
  /** The gateway's environment, for the agent and its terminals (default process.env). */
  baseEnv?: NodeJS.ProcessEnv;
}

export interface OpenedSession {
  sessionId: string;
  /** How it was opened: `loaded` (session/load of the stored id), else `new`. */
  how: 'loaded' | 'new';
  /** Why the stored id could not be loaded, when it could not. */
  loadFailure: string | null;
}

/** How much of the stderr tail an error frame quotes. */
const STDERR_IN_ERROR_CHARS = 800;

/** A failure whose message is meant for the user (the run's `error` frame). */
export class AgentFailure extends Error {}

/** Where `session/update` is delivered raw (see `renameNotifications` in agentProcess.ts). */
const RAW_SESSION_UPDATE = '_agentGateway/sessionUpdate';

const CLIENT_INFO = { name: 'agent-gateway', title: 'agent-gateway', version: '0.1.0' };

function messageOf(error: unknown): string {
  if (error && typeof error === 'object' && 'message' in error) {
    const data = (error as { data?: unknown }).data;
    const details = data && typeof data === 'object' && 'details' in data ? String((data as { details: unknown }).details) : null;
    const base = String((error as { message: unknown }).message);
    return details && !base.includes(details) ? `${base}: ${details}` : base;
  }
  return String(error);
}

export class AgentConnection {
  readonly spec: AgentSpec;
  readonly appSessionId: string;
  readonly projectPath: string;
  private readonly process: AgentProcess;
  /** The large answers made so far, in order (see `largeReply`). */
  private largeReplies: Promise<void> = Promise.resolve();
  private readonly connection: ClientConnection;
  private readonly terminals: SessionTerminals | null;
  private readonly logger: Logger;
  private readonly limits: AcpLimits;
  private sink: RunSink | null = null;
  private capabilities: InitializeResponse | null = null;
  /** The ACP session id once opened in this process. */
  sessionId: string | null = null;
  /** A run is using this connection. */
  busy = false;
  lastUsedAt = Date.now();

  constructor(options: AgentConnectionOptions) {
    this.spec = options.spec;
    this.appSessionId = options.appSessionId;
    this.projectPath = options.projectPath;
    this.logger = options.logger;
    this.limits = options.limits;
    const env = agentEnvironment(options.spec.env, options.baseEnv);
    this.process = startAgentProcess({
      name: options.spec.name,
      command: options.spec.command,
      args: options.spec.args,
      cwd: options.projectPath,
      env,
      logger: options.logger,
      maxLineBytes: options.limits.maxLineBytes,
      killGraceMs: options.limits.killGraceMs,
      maxStderrLinesLogged: options.limits.maxStderrLinesLogged,
      maxStderrLineChars: options.limits.maxStderrLineChars,
      stderrTailChars: options.limits.stderrTailChars,
      renameNotifications: { 'session/update': RAW_SESSION_UPDATE },
    });
    this.terminals = options.terminals
      ? createSessionTerminals({
          projectPath: options.projectPath,
          env,
          maxTerminals: options.limits.maxTerminalsPerSession,
          maxOutputBytes: options.limits.maxTerminalOutputBytes,
          ...(options.spawnPty ? { spawnPty: options.spawnPty } : {}),
        })
      : null;
    this.connection = this.buildClient().connect(this.process.stream);
    // One macrotask after the end, like the stream's close: what the agent sent before is handled first.
    void this.afterEnd().then(() => {
      this.terminals?.closeAll();
      this.connection.close(new AgentFailure(this.failureText()));
    });
  }

  /**
   * Answers that can be large (a file read, up to `maxReadFileBytes`; a terminal's output) are
   * made one at a time, each after the one before has been handed to the agent's stdin, and are
   * refused while the agent has not read what we already wrote: an agent that asks for many and
   * stops reading its stdin cannot make us hold more than one such answer beyond the pipe.
   */
  private largeReply<T>(produce: () => Promise<T>): Promise<T> {
    const turn = this.largeReplies
      // A macrotask: the answer before this one has reached the stdin write by then.
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => {
        if (this.process.writeBlocked()) {
          throw new RequestError(-32000, 'the agent is not reading its stdin: read the answers already sent first');
        }
        return produce();
      });
    this.largeReplies = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  private buildClient() {
    const root = this.projectPath;
    // Raw params: an update kind this SDK does not know must still reach the mapper (passed through).
    const raw = (params: unknown) => params as Record<string, unknown>;
    const app = client({ name: 'agent-gateway' })
      .onNotification(RAW_SESSION_UPDATE, raw, ({ params }) => {
        if (params?.sessionId !== this.sessionId || !this.sink) {
          this.logger.debug('ACP update outside a run dropped', { agent: this.spec.name, appSessionId: this.appSessionId });
          return;
        }
        this.sink.update(params.update);
      })
      .onRequest('session/request_permission', raw, ({ params, signal }): Promise<RequestPermissionResponse> | RequestPermissionResponse => {
        if (!this.sink) return { outcome: { outcome: 'cancelled' } };
        return this.sink.requestPermission(params, signal);
      })
      .onRequest('fs/read_text_file', ({ params }) => this.largeReply(() => readTextFileConfined(root, params, this.limits.maxReadFileBytes)))
      .onRequest('fs/write_text_file', ({ params }) => writeTextFileConfined(root, params));
    const terminals = this.terminals;
    if (terminals) {
      app
        .onRequest('terminal/create', ({ params }) => terminals.create(params))
        .onRequest('terminal/output', ({ params }) => this.largeReply(async () => terminals.output(params.terminalId)))
        .onRequest('terminal/wait_for_exit', ({ params }) => terminals.waitForExit(params.terminalId))
        .onRequest('terminal/kill', ({ params }) => {
          terminals.kill(params.terminalId);
          return {};
        })
        .onRequest('terminal/release', ({ params }) => {
          terminals.release(params.terminalId);
          return {};
        });
    }
    return app;
  }

  /** Why the process is unusable, with the end of its stderr. */
  failureText(): string {
    return this.withStderr(`Agent "${this.spec.name}": ${this.process.endReason() ?? 'the agent stopped'}.`);
  }

  /** The message plus the last lines of the agent's stderr (redacted), which often say why. */
  private withStderr(message: string): string {
    const tail = this.process.stderrTail();
    // About ten lines: an agent often dumps a multi-line object after the line that says why.
    const lastLines = (tail.length > STDERR_IN_ERROR_CHARS ? tail.slice(tail.indexOf('\n', tail.length - STDERR_IN_ERROR_CHARS) + 1) : tail).trim();
    return lastLines ? `${message} Its stderr ended with:\n${lastLines}` : message;
  }

  get ended(): Promise<string> {
    return this.process.ended;
  }

  /** The end, once the messages the agent sent before it have been dispatched. */
  private afterEnd(): Promise<void> {
    return this.process.ended.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  }

  isAlive(): boolean {
    return this.process.endReason() === null;
  }

  setSink(sink: RunSink | null): void {
    this.sink = sink;
  }

  terminalOutput(terminalId: string): string | null {
    return this.terminals?.peek(terminalId) ?? null;
  }

  /**
   * `promise`, unless the process ends first or `timeoutMs` passes: then an AgentFailure that says
   * which (the caller stops the process).
   */
  private async guard<T>(promise: Promise<T>, what: string, timeoutMs: number | null): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline =
      timeoutMs === null
        ? new Promise<never>(() => {})
        : new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new AgentFailure(`Agent "${this.spec.name}" did not answer ${what} within ${timeoutMs} ms.`)), timeoutMs);
          });
    const ended = this.afterEnd().then((): never => {
      throw new AgentFailure(this.failureText());
    });
    try {
      return await Promise.race([promise, deadline, ended]);
    } catch (error) {
      if (error instanceof AgentFailure) throw error;
      // The process ended while the request was open: its end says more than "connection closed".
      if (!this.isAlive()) throw new AgentFailure(this.failureText());
      throw new AgentFailure(this.withStderr(`Agent "${this.spec.name}" refused ${what}: ${messageOf(error)}.`));
    } finally {
      clearTimeout(timer);
    }
  }

  async initialize(): Promise<InitializeResponse> {
    if (this.capabilities) return this.capabilities;
    const params: InitializeRequest = {
      protocolVersion: PROTOCOL_VERSION,
      clientCapabilities: { fs: { readTextFile: true, writeTextFile: true }, terminal: this.terminals !== null },
      clientInfo: CLIENT_INFO,
    };
    const answer = await this.guard(this.connection.agent.request('initialize', params), 'initialize', this.limits.initializeTimeoutMs);
    this.capabilities = answer;
    return answer;
  }

  /** Loads `storedId` when the agent can, else (or when the load fails) starts a new ACP session. */
  async openSession(storedId: string | null): Promise<OpenedSession> {
    const capabilities = await this.initialize();
    if (this.sessionId) return { sessionId: this.sessionId, how: 'loaded', loadFailure: null };
    let loadFailure: string | null = null;
    if (storedId && capabilities.agentCapabilities?.loadSession === true) {
      try {
        // No sink yet: the history the agent replays is already in our log.
        await this.guard(
          this.connection.agent.request('session/load', { sessionId: storedId, cwd: this.projectPath, mcpServers: [] }),
          'session/load',
          this.limits.sessionSetupTimeoutMs,
        );
        this.sessionId = storedId;
        return { sessionId: storedId, how: 'loaded', loadFailure: null };
      } catch (error) {
        if (!this.isAlive()) throw error;
        loadFailure = messageOf(error);
      }
    } else if (storedId) {
      loadFailure = `agent "${this.spec.name}" cannot load sessions (no loadSession capability)`;
    }
    const created = await this.guard(
      this.connection.agent.request('session/new', { cwd: this.projectPath, mcpServers: [] }),
      'session/new',
      this.limits.sessionSetupTimeoutMs,
    );
    this.sessionId = created.sessionId;
    return { sessionId: created.sessionId, how: 'new', loadFailure };
  }

  prompt(text: string): Promise<PromptResponse> {
    const sessionId = this.sessionId;
    if (!sessionId) return Promise.reject(new AgentFailure('No ACP session is open'));
    return this.guard(this.connection.agent.request('session/prompt', { sessionId, prompt: [{ type: 'text', text }] }), 'session/prompt', null);
  }

  /** `session/cancel`: the turn should end soon with stopReason `cancelled`. */
  cancel(): void {
    if (!this.sessionId || !this.isAlive()) return;
    this.connection.agent.notify('session/cancel', { sessionId: this.sessionId }).catch((error: unknown) => {
      this.logger.debug('session/cancel could not be sent', { agent: this.spec.name, error: String(error) });
    });
  }

  /** Stops the process group and its terminals. */
  async close(): Promise<void> {
    this.sink = null;
    this.terminals?.closeAll();
    await this.process.kill();
  }
}
