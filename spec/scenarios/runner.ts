/**
 * Runs one scenario against the real gateway, step by step, and reports the first thing that
 * differed. Every wait is on a condition (a frame arrived, a run started, the clock fired):
 * nothing sleeps, so a scenario gives the same result on every run.
 *
 * At the end every open client makes a quiet round trip, and any frame no `expect` consumed, or
 * any close no step expected, fails the scenario: a scenario states everything a client sees.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { InspectionEvent } from 'xstate';

import type { ProviderRuntime } from '../../gateway/types.js';
import type {
  ConnectStep,
  ExpectStep,
  JsonObject,
  JsonValue,
  PtyStep,
  RuntimeStep,
  Scenario,
  Step,
  UpstreamStep,
} from './format.js';
import { DEFAULT_TOKEN, startGateway, type GatewayUnderTest } from './gatewayUnderTest.js';
import { expandFrames, matchFrame, matchValue, sideBySide, type Bindings } from './match.js';
import { connectClient, type ScenarioClient } from './scenarioClient.js';
import type { ScriptedPty } from './scriptedPty.js';
import { materialize, type ScriptedRun } from './scriptedRuntime.js';
import { parseDuration, substitute } from './substitute.js';
import { createWaiter, WaitTimeout, type Waiter } from './waiter.js';

export const DEFAULT_STEP_TIMEOUT_MS = 10_000;

export class ScenarioFailure extends Error {}

export interface ClientRecord {
  name: string;
  path: string;
  frames: unknown[];
  closed: { code: number; reason: string } | null;
}

export interface ScenarioResult {
  name: string;
  ok: boolean;
  /** The first difference, readable as is (expected beside actual). */
  failure: string | null;
  stepsRun: number;
  durationMs: number;
  /** Every connection in the order it was opened, with everything it received. */
  clients: ClientRecord[];
}

export interface RunOptions {
  /** Where failures say the scenario came from. */
  source?: string;
  inspect?: (event: InspectionEvent) => void;
  wrapRuntime?: (runtime: ProviderRuntime) => ProviderRuntime;
}

interface NamedClient {
  client: ScenarioClient;
  /** A step closed it or expected its close. */
  closeExpected: boolean;
  record: ClientRecord;
}

const stepKind = (step: Step): string => Object.keys(step).find((key) => !['note', 'timeoutMs', 'at'].includes(key)) ?? '?';
const show = (value: unknown) => JSON.stringify(value);

export async function runScenario(scenario: Scenario, options: RunOptions = {}): Promise<ScenarioResult> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'ag-scenario-'));
  const waiter = createWaiter();
  const savedEnv = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(scenario.gateway?.shell?.processEnv ?? {})) {
    savedEnv.set(key, process.env[key]);
    process.env[key] = value;
  }
  const result: ScenarioResult = { name: scenario.name, ok: false, failure: null, stepsRun: 0, durationMs: 0, clients: [] };
  let gateway: GatewayUnderTest | null = null;
  const clients = new Map<string, NamedClient>();
  try {
    gateway = await startGateway({ scenario, dir, waiter, inspect: options.inspect, wrapRuntime: options.wrapRuntime });
    const context = new StepContext(scenario, gateway, waiter, clients, result);
    await context.createSessions();
    for (let i = 0; i < scenario.steps.length; i++) {
      const step = scenario.steps[i];
      try {
        await context.run(step);
      } catch (error) {
        throw new ScenarioFailure(describeFailure(i, step, error));
      }
      result.stepsRun = i + 1;
    }
    await context.finish();
    result.ok = true;
  } catch (error) {
    const where = options.source ? `${options.source}\n` : '';
    result.failure = `${where}${error instanceof ScenarioFailure ? error.message : error instanceof Error ? error.stack ?? error.message : String(error)}`;
  } finally {
    for (const { client } of clients.values()) client.ws.terminate();
    if (gateway) await gateway.close().catch(() => {});
    for (const [key, value] of savedEnv) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    rmSync(dir, { recursive: true, force: true });
    result.durationMs = Date.now() - started;
  }
  return result;
}

function describeFailure(index: number, step: Step, error: unknown): string {
  const note = step.note ? ` — ${step.note}` : '';
  const body = error instanceof Error ? error.message : String(error);
  return `step ${index + 1} (${stepKind(step)} ${show((step as unknown as Record<string, unknown>)[stepKind(step)])})${note}:\n${body}`;
}

class StepContext {
  private readonly bindings: Bindings = new Map();
  private readonly runs = new Map<string, ScriptedRun>();
  private readonly ptys = new Map<string, ScriptedPty>();
  private boundRuns = 0;
  private boundPtys = 0;
  /** Recorded time at which the current clock started (timing `recorded`). */
  private clockOrigin = 0;
  private lastAt = 0;

  constructor(
    private readonly scenario: Scenario,
    private readonly gateway: GatewayUnderTest,
    private readonly waiter: Waiter,
    private readonly clients: Map<string, NamedClient>,
    private readonly result: ScenarioResult,
  ) {}

  private get defaultTimeout() {
    return this.scenario.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  }

  private variables(): Record<string, string> {
    const variables: Record<string, string> = { dir: this.gateway.dir, port: String(this.gateway.port) };
    for (const [name, upstream] of this.gateway.upstreams) variables[`upstream.${name}.port`] = String(upstream.port);
    return variables;
  }

  private sub<T extends JsonValue | undefined>(value: T): T {
    return substitute(value, this.variables());
  }

  async createSessions(): Promise<void> {
    const providers = this.scenario.gateway?.runtime?.kind === 'demo' ? ['demo'] : this.scenario.gateway?.runtime?.providers ?? ['scripted'];
    for (const [sessionId, spec] of Object.entries(this.scenario.sessions ?? {})) {
      this.gateway.store.createSession({
        sessionId,
        provider: spec.provider ?? providers[0],
        projectPath: spec.projectPath === undefined ? this.gateway.dir : this.sub(spec.projectPath),
      });
      if (spec.providerSessionId) this.gateway.store.assignProviderSessionId(sessionId, spec.providerSessionId);
    }
  }

  private wait<T>(check: () => T | null | undefined | false, what: string, step: Step): Promise<T> {
    return this.waiter.until(check, what, step.timeoutMs ?? this.defaultTimeout);
  }

  private client(name: string): NamedClient {
    const named = this.clients.get(name);
    if (!named) throw new Error(`no client named "${name}" has connected`);
    return named;
  }

  async run(step: Step): Promise<void> {
    if (this.scenario.timing === 'recorded' && typeof step.at === 'number') {
      const target = step.at - this.clockOrigin;
      const now = this.gateway.clock.now();
      if (target > now) await this.gateway.advance(target - now);
      this.lastAt = step.at;
    }
    // Steps named after what they drive come first: their own fields (`close`, `output`…) reuse generic names.
    if ('runtime' in step) return this.runtimeStep(step);
    if ('pty' in step) return this.ptyStep(step);
    if ('upstream' in step) return this.upstreamStep(step);
    if ('connect' in step) return this.connect(step);
    if ('send' in step) {
      const { client } = this.client(step.send);
      for (let i = 0; i < (step.repeat ?? 1); i++) {
        if (step.frame !== undefined) client.sendJson(this.sub(step.frame));
        else if (step.text !== undefined) client.sendText(this.sub(step.text));
        else if (step.binary !== undefined) client.sendBinary(Buffer.from(step.binary, 'base64'));
        else throw new Error('a send step needs frame, text or binary');
      }
      return;
    }
    if ('close' in step) {
      const named = this.client(step.close);
      named.closeExpected = true;
      named.client.ws.close(step.code, step.reason);
      await this.wait(() => named.client.closed, `${step.close} to close`, step);
      await this.serverSawClose(named, step);
      return;
    }
    if ('drop' in step) {
      const named = this.client(step.drop);
      named.closeExpected = true;
      named.client.ws.terminate();
      await this.wait(() => named.client.closed, `${step.drop} to be cut off`, step);
      await this.serverSawClose(named, step);
      return;
    }
    if ('pause' in step) return void this.client(step.pause).client.ws.pause();
    if ('resume' in step) return void this.client(step.resume).client.ws.resume();
    if ('expect' in step) return this.expectFrames(step);
    if ('expectClose' in step) {
      const named = this.client(step.expectClose);
      named.closeExpected = true;
      const closed = await this.wait(() => named.client.closed, `${step.expectClose} to be closed`, step);
      const mismatch = matchValue(
        { ...(step.code === undefined ? {} : { code: step.code }), ...(step.reason === undefined ? {} : { reason: step.reason }) },
        closed,
        'close',
        this.bindings,
      );
      if (mismatch) throw new Error(`${mismatch.message}\n${sideBySide({ code: step.code, reason: step.reason }, closed)}`);
      if (step.skipFrames) named.client.cursor = named.client.frames.length;
      else this.assertDrained(step.expectClose, named);
      return;
    }
    if ('expectQuiet' in step) {
      for (const name of Array.isArray(step.expectQuiet) ? step.expectQuiet : [step.expectQuiet]) {
        const named = this.client(name);
        await named.client.quiet(step.timeoutMs ?? this.defaultTimeout);
        this.assertDrained(name, named);
      }
      return;
    }
    if ('advance' in step) return this.gateway.advance(parseDuration(step.advance));
    if ('restart' in step) {
      await this.gateway.restart(step.restart);
      this.clockOrigin = this.lastAt;
      return;
    }
    if ('broadcast' in step) return void this.gateway.handle.broadcast(this.sub(step.broadcast));
    if ('expectStore' in step) {
      const expected = step.providerSessionId ?? null;
      await this.wait(
        () => (this.gateway.store.getSession(step.expectStore)?.providerSessionId ?? null) === expected,
        `session ${step.expectStore} to have providerSessionId ${show(expected)} (it has ${show(this.gateway.store.getSession(step.expectStore)?.providerSessionId ?? null)})`,
        step,
      );
      return;
    }
    if ('expectGateway' in step) {
      const { runningRuns, shells, chatSessions } = step.expectGateway;
      if (runningRuns !== undefined) {
        await this.waitForMatch(this.sub(runningRuns), () => this.gateway.handle.chatRunRegistry.listRunningRuns(), 'listRunningRuns()', step);
      }
      if (shells !== undefined) {
        await this.waitForMatch(shells, () => this.gateway.handle.listActors().shell.length, 'the number of live shells', step);
      }
      if (chatSessions !== undefined) {
        await this.waitForMatch(chatSessions, () => this.gateway.handle.listActors().chat.length, 'the number of chat sessions in memory', step);
      }
      return;
    }
    if ('expectRuntime' in step) {
      const runtime = this.requireScripted();
      const { aborts, approvals, runs } = step.expectRuntime;
      if (aborts !== undefined) await this.waitForMatch(this.sub(aborts), () => runtime.aborts, 'abort() calls', step);
      if (approvals !== undefined) await this.waitForMatch(this.sub(approvals), () => runtime.approvals, 'resolveToolApproval() calls', step);
      if (runs !== undefined) await this.waitForMatch(runs, () => runtime.runs.length, 'run() calls', step);
      return;
    }
    throw new Error(`unknown step ${show(step)}`);
  }

  /** Waits until `read()` matches; on timeout, shows expected beside the last value read. */
  private async waitForMatch(expected: JsonValue, read: () => unknown, what: string, step: Step): Promise<void> {
    try {
      await this.wait(() => matchValue(expected, read(), '', new Map(this.bindings)) === null, what, step);
    } catch (error) {
      if (!(error instanceof WaitTimeout)) throw error;
      const mismatch = matchValue(expected, read(), '', new Map(this.bindings));
      throw new Error(`${what}: ${mismatch?.path ? `at ${mismatch.path}: ` : ''}${mismatch?.message ?? 'no match'}\n${sideBySide(expected, read())}`);
    }
    matchValue(expected, read(), '', this.bindings);
  }

  /** A close is only done when the gateway has handled it too (a detach, an unsubscribe). */
  private async serverSawClose(named: NamedClient, step: Step): Promise<void> {
    const port = named.client.localPort;
    if (port === null) return;
    await this.wait(() => this.gateway.serverClosed(port), `the gateway to see ${named.client.name} close`, step);
  }

  private async connect(step: ConnectStep): Promise<void> {
    const previous = this.clients.get(step.connect);
    if (previous) {
      if (!previous.client.closed) throw new Error(`client "${step.connect}" is still connected`);
      this.assertDrained(step.connect, previous);
      this.assertCloseExpected(step.connect, previous);
    }
    const path = this.sub(step.path ?? '/ws');
    const token = step.token === undefined ? DEFAULT_TOKEN : step.token;
    const headers: Record<string, string> = { ...(step.headers ? this.sub(step.headers as JsonObject) : {}) } as Record<string, string>;
    let url = `${this.gateway.url}${path}`;
    if (token !== null) {
      if (step.tokenIn === 'header') headers.authorization = `Bearer ${token}`;
      else url += `${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
    }
    const outcome = await connectClient({ url, name: step.connect, path, headers, autoPong: step.autoPong ?? true, waiter: this.waiter });
    if (step.expectRejected !== undefined) {
      if (outcome.ok) {
        outcome.client.ws.terminate();
        throw new Error(`expected the upgrade to be refused with HTTP ${step.expectRejected}, but the socket opened`);
      }
      if (outcome.status !== step.expectRejected) {
        throw new Error(`expected the upgrade to be refused with HTTP ${step.expectRejected}, got ${outcome.error}`);
      }
      return;
    }
    if (!outcome.ok) throw new Error(`could not connect ${step.connect} to ${path}: ${outcome.error}`);
    const record: ClientRecord = { name: step.connect, path, frames: outcome.client.frames, closed: null };
    this.result.clients.push(record);
    outcome.client.ws.on('close', () => {
      record.closed = outcome.client.closed;
    });
    this.clients.set(step.connect, { client: outcome.client, closeExpected: false, record });
  }

  private async expectFrames(step: ExpectStep): Promise<void> {
    const frames = expandFrames(this.sub(step.frames));
    for (const name of Array.isArray(step.expect) ? step.expect : [step.expect]) {
      const { client } = this.client(name);
      for (let i = 0; i < frames.length; i++) {
        try {
          await this.wait(() => client.frames.length > client.cursor || client.closed, `frame ${i + 1} of ${frames.length}`, step);
        } catch (error) {
          if (!(error instanceof WaitTimeout)) throw error;
          throw new Error(`${name}: expected frame ${i + 1} of ${frames.length}, nothing arrived in time\n${sideBySide(frames[i], undefined)}${lastFrames(client)}`);
        }
        if (client.frames.length <= client.cursor) {
          throw new Error(`${name}: expected frame ${i + 1} of ${frames.length}, the socket closed (${show(client.closed)})\n${sideBySide(frames[i], undefined)}${lastFrames(client)}`);
        }
        const actual = client.frames[client.cursor];
        const mismatch = matchFrame(frames[i], actual, this.bindings);
        if (mismatch) {
          throw new Error(
            `${name}: frame ${i + 1} of ${frames.length} (received #${client.cursor + 1}) differs${mismatch.path ? ` at ${mismatch.path}` : ''}: ${mismatch.message}\n${sideBySide(frames[i], actual)}`,
          );
        }
        client.cursor += 1;
      }
    }
  }

  private requireScripted() {
    const runtime = this.gateway.scripted;
    if (!runtime) throw new Error('this step needs the scripted runtime (gateway.runtime.kind "scripted")');
    return runtime;
  }

  private async runtimeStep(step: RuntimeStep): Promise<void> {
    const runtime = this.requireScripted();
    if (step.start !== undefined) {
      if (this.runs.has(step.runtime)) throw new Error(`run "${step.runtime}" is already bound`);
      const run = await this.wait(() => runtime.runs[this.boundRuns], `run ${this.boundRuns + 1} to start`, step);
      this.boundRuns += 1;
      this.runs.set(step.runtime, run);
      if (step.start !== true) {
        const mismatch = matchValue(this.sub(step.start as JsonObject), { provider: run.provider, content: run.content, options: run.options }, 'run', this.bindings);
        if (mismatch) throw new Error(`${mismatch.path}: ${mismatch.message}\n${sideBySide(step.start, { provider: run.provider, content: run.content, options: run.options })}`);
      }
    }
    const run = this.runs.get(step.runtime);
    if (!run) throw new Error(`run "${step.runtime}" is not bound: start it first ({ "runtime": "${step.runtime}", "start": true })`);
    if (step.emit !== undefined) {
      const messages = Array.isArray(step.emit) ? step.emit : [step.emit];
      for (let i = 0; i < (step.repeat ?? 1); i++) for (const message of messages) runtime.emit(run, this.sub(message));
    }
    if (step.setSessionId !== undefined && !run.dead) run.writer.setSessionId(step.setSessionId);
    if (step.awaitAbort) await this.wait(() => run.abortCalls > 0, `abort() of run "${step.runtime}"`, step);
    if (step.answerAbort !== undefined) {
      const pending = await this.wait(() => run.pendingAbort, `a pending abort() of run "${step.runtime}"`, step);
      run.pendingAbort = null;
      if (step.answerAbort === 'throw') pending.reject(new Error('abort failed'));
      else pending.resolve(step.answerAbort);
    }
    if (step.resolve !== undefined) run.resolve(step.resolve);
    if (step.reject !== undefined) run.reject(new Error(step.reject));
    if (step.expectSettled !== undefined) {
      await this.wait(() => run.settled === step.expectSettled, `run "${step.runtime}" settled = ${step.expectSettled}`, step);
    }
  }

  /** Output and exit reach clients only after the screen mirror parsed them: wait for the session to take them in. */
  private async ptyReportsCaughtUp(step: Step): Promise<void> {
    const all = this.gateway.ptys.ptys;
    await this.wait(
      () => {
        const chunks = all.reduce((sum, pty) => sum + pty.deliveredChunks, 0);
        const exits = all.filter((pty) => pty.exited && pty.killedWith === null).length;
        return this.gateway.ptyReports.output >= chunks && this.gateway.ptyReports.exited >= exits;
      },
      'the shell session to take in the PTY output',
      step,
    );
  }

  private async ptyStep(step: PtyStep): Promise<void> {
    const host = this.gateway.ptys;
    if (step.spawned !== undefined) {
      if (this.ptys.has(step.pty)) throw new Error(`pty "${step.pty}" is already bound`);
      const pty = await this.wait(() => host.ptys[this.boundPtys], `PTY ${this.boundPtys + 1} to be spawned`, step);
      this.boundPtys += 1;
      this.ptys.set(step.pty, pty);
      if (step.spawned !== true) {
        const actual = { command: pty.command, cwd: pty.cwd, cols: pty.cols, rows: pty.rows, env: pty.env };
        const mismatch = matchValue(this.sub(step.spawned as JsonObject), actual, 'spawn', this.bindings);
        if (mismatch) throw new Error(`${mismatch.path}: ${mismatch.message}\n${sideBySide(step.spawned, { ...actual, env: '(not shown)' })}`);
      }
    }
    const pty = this.ptys.get(step.pty);
    if (!pty) throw new Error(`pty "${step.pty}" is not bound: wait for it first ({ "pty": "${step.pty}", "spawned": true })`);
    if (step.output !== undefined) {
      const chunk = materialize(this.sub(step.output)) as string;
      for (let i = 0; i < (step.repeat ?? 1); i++) {
        pty.output(chunk);
        await this.ptyReportsCaughtUp(step);
      }
    }
    if (step.exit !== undefined) {
      pty.exit(step.exit.code, step.exit.signal);
      await this.ptyReportsCaughtUp(step);
    }
    if (step.expectInput !== undefined) {
      await this.waitForMatch(this.sub(step.expectInput), () => pty.input, `input written to pty "${step.pty}"`, step);
      pty.takeInput();
    }
    if (step.expectKilled !== undefined) {
      await this.wait(() => (pty.killedWith !== null) === step.expectKilled, `pty "${step.pty}" killed = ${step.expectKilled}`, step);
    }
    if (step.expectSize !== undefined) {
      await this.waitForMatch(step.expectSize, () => ({ cols: pty.cols, rows: pty.rows }), `the size of pty "${step.pty}"`, step);
    }
    if (step.expectPaused !== undefined) {
      await this.wait(() => pty.paused === step.expectPaused, `pty "${step.pty}" paused = ${step.expectPaused}`, step);
    }
  }

  private async upstreamStep(step: UpstreamStep): Promise<void> {
    const upstream = this.gateway.upstreams.get(step.upstream);
    if (!upstream) throw new Error(`no upstream named "${step.upstream}" (declare it under "upstreams")`);
    if (step.accept) upstream.acceptPending();
    if (step.awaitConnections !== undefined) {
      await this.wait(() => upstream.connections.length >= step.awaitConnections!, `${step.awaitConnections} connection(s) to upstream ${step.upstream}`, step);
    }
    if (step.expectUpgrades !== undefined) {
      await this.waitForMatch(step.expectUpgrades, () => upstream.upgradePaths, `upgrade requests seen by ${step.upstream}`, step);
    }
    if (step.expectTcpClosed !== undefined) {
      await this.wait(() => upstream.tcpEnded >= step.expectTcpClosed!, `${step.expectTcpClosed} TCP connection(s) to ${step.upstream} to end`, step);
    }
    const needsConnection =
      step.sendText !== undefined || step.sendBinary !== undefined || step.close !== undefined || step.expectFrames !== undefined || step.expectClosed !== undefined;
    if (!needsConnection) return;
    const connection = await this.wait(
      () => (step.connection === undefined ? upstream.connections[upstream.connections.length - 1] : upstream.connections[step.connection - 1]),
      `connection ${step.connection ?? '(newest)'} to upstream ${step.upstream}`,
      step,
    );
    if (step.sendText !== undefined) connection.ws.send(this.sub(step.sendText));
    if (step.sendBinary !== undefined) connection.ws.send(Buffer.from(step.sendBinary, 'base64'), { binary: true });
    if (step.close !== undefined) connection.ws.close(step.close.code, step.close.reason);
    if (step.expectFrames !== undefined) {
      const frames = expandFrames(this.sub(step.expectFrames));
      await this.wait(() => connection.received.length >= connection.cursor + frames.length, `${frames.length} frame(s) at upstream ${step.upstream}`, step).catch((error) => {
        throw new Error(`${error instanceof Error ? error.message : error}\n${sideBySide(frames, connection.received.slice(connection.cursor))}`);
      });
      for (let i = 0; i < frames.length; i++) {
        const actual = connection.received[connection.cursor];
        const mismatch = matchFrame(frames[i], actual, this.bindings);
        if (mismatch) throw new Error(`upstream ${step.upstream}: frame ${i + 1} differs: ${mismatch.message}\n${sideBySide(frames[i], actual)}`);
        connection.cursor += 1;
      }
    }
    if (step.expectClosed !== undefined) {
      const closed = await this.wait(() => connection.closed, `upstream ${step.upstream}'s connection to close`, step);
      const mismatch = matchValue(step.expectClosed as JsonObject, closed, 'close', this.bindings);
      if (mismatch) throw new Error(`${mismatch.message}\n${sideBySide(step.expectClosed, closed)}`);
    }
  }

  private assertDrained(name: string, named: NamedClient): void {
    const { client } = named;
    if (client.cursor < client.frames.length) {
      throw new Error(
        `${name}: received ${client.frames.length - client.cursor} frame(s) no step expected; the first:\n${sideBySide(undefined, client.frames[client.cursor])}`,
      );
    }
  }

  private assertCloseExpected(name: string, named: NamedClient): void {
    if (named.client.closed && !named.closeExpected) {
      throw new Error(`${name}: the socket was closed (${show(named.client.closed)}) and no step expected it (use expectClose)`);
    }
  }

  async finish(): Promise<void> {
    for (const [name, named] of this.clients) {
      try {
        if (!named.client.closed) await named.client.quiet(this.defaultTimeout);
        this.assertDrained(name, named);
        this.assertCloseExpected(name, named);
      } catch (error) {
        throw new ScenarioFailure(`after the last step:\n${error instanceof Error ? error.message : String(error)}`);
      }
    }
    for (const upstream of this.gateway.upstreams.values()) {
      for (const [index, connection] of upstream.connections.entries()) {
        if (connection.cursor < connection.received.length) {
          throw new ScenarioFailure(
            `after the last step:\nupstream ${upstream.name} connection ${index + 1} received ${connection.received.length - connection.cursor} frame(s) no step expected; the first:\n${sideBySide(undefined, connection.received[connection.cursor])}`,
          );
        }
      }
    }
  }
}

function lastFrames(client: ScenarioClient): string {
  const consumed = client.frames.slice(Math.max(0, client.cursor - 3), client.cursor);
  return consumed.length === 0 ? '' : `\nlast frames consumed before it:\n${consumed.map((frame) => `  ${show(frame)}`).join('\n')}`;
}
