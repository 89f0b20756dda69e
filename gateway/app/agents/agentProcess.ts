/**
 * One ACP agent's OS process and its stdio framing: newline-delimited JSON-RPC on stdin/stdout,
 * stderr to the gateway log. It owns the child process and nothing else; the protocol is the SDK's.
 *
 * We frame stdout ourselves (not the SDK's `ndJsonStream`) because a broken agent must end the run:
 * a line that is not a JSON object, or a line over `maxLineBytes`, is a failure that kills the
 * process, where the SDK would answer a parse error and carry on. Reading pauses while the SDK has
 * not taken the previous messages, so a flooding agent is held back by the pipe, not by our memory.
 *
 * The process leads its own process group (`detached`), so `kill()` also stops what it started
 * (npx's child, a language server): SIGTERM to the group, SIGKILL after `killGraceMs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';

import type { AnyMessage, Stream } from '@agentclientprotocol/sdk';

import type { Logger } from '../../logger.js';
import { redactSecrets } from './redact.js';

export interface AgentProcessOptions {
  /** The agent's name (its provider), for logs and errors. */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  maxLineBytes: number;
  killGraceMs: number;
  maxStderrLinesLogged: number;
  maxStderrLineChars: number;
  stderrTailChars: number;
  /**
   * Incoming notifications to deliver under another method name (in order with everything else).
   * The SDK's client validates every `session/update` against its schema before any handler runs
   * and drops an update kind it does not know; renamed, it reaches our handler raw.
   */
  renameNotifications?: Record<string, string>;
}

export interface AgentProcess {
  readonly pid: number | undefined;
  /** The SDK's view of the process: parsed messages in, messages out. */
  readonly stream: Stream;
  /** Resolves once, with why the process is gone or unusable (exit, spawn error, broken output). */
  readonly ended: Promise<string>;
  /** The reason once ended, else null. */
  endReason(): string | null;
  /** The end of stderr (redacted), to explain a failure. */
  stderrTail(): string;
  /** Stops the whole process group; resolves once the process has exited. */
  kill(): Promise<void>;
  /** True while the agent has not read what was last written to its stdin (the pipe is full). */
  writeBlocked(): boolean;
}

/** After the agent exits, how long its pipes may take to deliver their last bytes. */
const EXIT_DRAIN_MS = 500;

/** Variables of the gateway's own that an agent must not inherit. */
const PRIVATE_ENV = ['GATEWAY_TOKEN'];

export function agentEnvironment(extra: Record<string, string>, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of PRIVATE_ENV) delete env[name];
  return { ...env, ...extra };
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

export function startAgentProcess(options: AgentProcessOptions): AgentProcess {
  const { logger, name } = options;
  let child: ChildProcess;
  let reason: string | null = null;
  let exited = false;
  let resolveEnded!: (reason: string) => void;
  const ended = new Promise<string>((resolve) => (resolveEnded = resolve));
  let resolveExited!: () => void;
  const exitedPromise = new Promise<void>((resolve) => (resolveExited = resolve));
  let stderrTail = '';
  let stderrLines = 0;
  let stderrPartial = '';
  let controller: ReadableStreamDefaultController<AnyMessage> | null = null;
  let readableClosed = false;

  const closeReadable = () => {
    if (readableClosed || !controller) return;
    readableClosed = true;
    try {
      controller.close();
    } catch {
      // already closed by a cancel from the SDK side
    }
  };

  /**
   * The readable closes one macrotask later: messages already queued are read and dispatched by
   * the SDK in microtasks, so what the agent wrote before it broke (its last chunks) still arrives.
   */
  const end = (why: string) => {
    if (reason !== null) return;
    reason = why;
    setImmediate(closeReadable);
    resolveEnded(why);
  };

  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
  } catch (error) {
    // spawn throws synchronously for impossible arguments (a NUL byte in a word).
    return deadProcess(`could not start "${options.command}": ${(error as Error).message}`);
  }

  /** Also after the leader exited: what it started may still run in its group. */
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  };

  child.once('error', (error: NodeJS.ErrnoException) => {
    const why = error.code === 'ENOENT' ? `command not found: "${options.command}"` : `could not start "${options.command}": ${error.message}`;
    end(why);
    exited = true;
    resolveExited();
  });
  // 'exit' can come before the last stdout/stderr bytes are read: wait for both pipes to end
  // (bounded: a grandchild may hold them open) so the last chunks and the stderr tail are in.
  let pipesOpen = 2;
  let onPipesDrained: (() => void) | null = null;
  const pipeEnded = () => {
    pipesOpen--;
    if (pipesOpen === 0) onPipesDrained?.();
  };
  child.stdout?.once('close', pipeEnded);
  child.stderr?.once('close', pipeEnded);
  child.once('exit', (code, signal) => {
    exited = true;
    resolveExited();
    killGroup('SIGTERM');
    const finish = () => {
      onPipesDrained = null;
      clearTimeout(drainTimer);
      if (stderrPartial) logStderr(stderrPartial);
      stderrPartial = '';
      end(`the agent ${describeExit(code, signal)}`);
    };
    const drainTimer = setTimeout(finish, EXIT_DRAIN_MS);
    // Paused for back-pressure, stdout would never end: let it flow into the (closing) stream.
    child.stdout?.resume();
    if (pipesOpen <= 0) finish();
    else onPipesDrained = finish;
    logger.info('ACP agent process ended', { agent: name, pid: child.pid, code, signal });
  });

  const logStderr = (line: string) => {
    const clean = redactSecrets(line);
    stderrTail = (stderrTail + clean + '\n').slice(-options.stderrTailChars);
    stderrLines++;
    if (stderrLines <= options.maxStderrLinesLogged) {
      logger.warn(`agent ${name} stderr: ${clean.slice(0, options.maxStderrLineChars)}`, { pid: child.pid });
    } else if (stderrLines === options.maxStderrLinesLogged + 1) {
      logger.warn(`agent ${name} stderr: further lines are not logged (maxStderrLinesLogged)`, { pid: child.pid });
    }
  };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    const text = stderrPartial + chunk;
    const lines = text.split('\n');
    stderrPartial = lines.pop() ?? '';
    // An agent that never ends a stderr line must not grow this buffer.
    if (stderrPartial.length > options.maxStderrLineChars * 4) {
      logStderr(stderrPartial);
      stderrPartial = '';
    }
    for (const line of lines) if (line.trim() !== '') logStderr(line);
  });

  // stdout: our own line framing (see the header).
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const fail = (why: string) => {
    if (reason !== null) return;
    logger.warn('ACP agent broke the protocol; stopping it', { agent: name, pid: child.pid, reason: why });
    end(why);
    void kill();
  };
  const takeLine = (line: Buffer) => {
    const text = line.toString('utf8').trim();
    if (text === '') return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      fail(`the agent wrote a line that is not JSON: ${JSON.stringify(redactSecrets(text.slice(0, 120)))}`);
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      fail(`the agent wrote a line that is not a JSON-RPC message: ${JSON.stringify(redactSecrets(text.slice(0, 120)))}`);
      return;
    }
    const record = message as Record<string, unknown>;
    if (!('id' in record) && typeof record.method === 'string' && options.renameNotifications && Object.hasOwn(options.renameNotifications, record.method)) {
      record.method = options.renameNotifications[record.method];
    }
    controller?.enqueue(record as AnyMessage);
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    if (reason !== null) return;
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (pendingBytes + piece.length > options.maxLineBytes) {
        fail(`the agent wrote a line over ${options.maxLineBytes} bytes (maxLineBytes)`);
        return;
      }
      const line = pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      pendingBytes = 0;
      takeLine(line);
      if (reason !== null) return;
    }
    const rest = chunk.subarray(start);
    if (pendingBytes + rest.length > options.maxLineBytes) {
      fail(`the agent wrote a line over ${options.maxLineBytes} bytes (maxLineBytes)`);
      return;
    }
    if (rest.length > 0) {
      pending.push(rest);
      pendingBytes += rest.length;
    }
    if (controller && (controller.desiredSize ?? 1) <= 0) child.stdout?.pause();
  });
  child.stdout?.on('end', () => {
    if (pendingBytes > 0) takeLine(Buffer.concat(pending));
    pending = [];
    pendingBytes = 0;
  });

  const readable = new ReadableStream<AnyMessage>(
    {
      start(c) {
        controller = c;
        if (reason !== null) closeReadable();
      },
      pull() {
        child.stdout?.resume();
      },
      cancel() {
        readableClosed = true;
        child.stdout?.resume();
      },
    },
    // A few messages may wait for the SDK; beyond that stdout pauses and the pipe holds the rest.
    { highWaterMark: 64 },
  );

  child.stdin?.on('error', (error) => logger.debug('ACP agent stdin closed', { agent: name, error: String(error) }));
  let blocked = false;
  const writable = new WritableStream<AnyMessage>({
    write(message) {
      const stdin = child.stdin;
      if (reason !== null || !stdin || stdin.destroyed || !stdin.writable) return;
      const line = `${JSON.stringify(message)}\n`;
      if (!stdin.write(line)) {
        blocked = true;
        return new Promise<void>((resolve) => {
          const done = () => {
            blocked = false;
            stdin.off('drain', done);
            stdin.off('close', done);
            resolve();
          };
          stdin.once('drain', done);
          stdin.once('close', done);
        });
      }
      return undefined;
    },
  });

  let killing: Promise<void> | null = null;
  const kill = (): Promise<void> => {
    killing ??= (async () => {
      end(reason ?? 'the agent was stopped by the gateway');
      killGroup('SIGTERM');
      if (exited) return;
      child.stdin?.end();
      const timer = setTimeout(() => killGroup('SIGKILL'), options.killGraceMs);
      timer.unref();
      await exitedPromise;
      clearTimeout(timer);
    })();
    return killing;
  };

  return {
    pid: child.pid,
    stream: { readable, writable },
    ended,
    endReason: () => reason,
    stderrTail: () => stderrTail.trim(),
    kill,
    writeBlocked: () => blocked,
  };
}

/** A process that never started: its stream ends at once, with the reason. */
function deadProcess(why: string): AgentProcess {
  const readable = new ReadableStream<AnyMessage>({ start: (c) => c.close() });
  const writable = new WritableStream<AnyMessage>({ write: () => undefined });
  return {
    pid: undefined,
    stream: { readable, writable },
    ended: Promise.resolve(why),
    endReason: () => why,
    stderrTail: () => '',
    kill: () => Promise.resolve(),
    writeBlocked: () => false,
  };
}
