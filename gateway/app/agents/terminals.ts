/**
 * The ACP `terminal/*` methods of one agent session: commands the agent asks us to run, each in a
 * real PTY (node-pty) in the project path, with bounded output. This file owns the PTY handles.
 *
 * - `terminal/create`: `cwd` must be inside the project (default: the project). With no `args` the
 *   command is one shell line (`/bin/sh -c command`), as agents send it; with `args` it is run as is.
 * - Output keeps the newest `min(outputByteLimit, maxTerminalOutputBytes)` bytes, cut at a
 *   character boundary, and says `truncated` once anything was dropped.
 * - At most `maxTerminalsPerSession` live terminals; `release` and the session's end kill them.
 */
import { randomUUID } from 'node:crypto';

import { RequestError } from '@agentclientprotocol/sdk';

import { defaultSpawnPty, signalPtyGroup, type PtyHandle, type SpawnPty } from '../../shell/ptyProcesses.js';
import { confinePath } from './fsAccess.js';

export interface TerminalExit {
  exitCode: number | null;
  signal: string | null;
}

interface Terminal {
  id: string;
  pty: PtyHandle;
  output: Buffer;
  limit: number;
  truncated: boolean;
  exit: TerminalExit | null;
  exited: Promise<TerminalExit>;
}

export interface CreateTerminalParams {
  command: string;
  args?: string[] | null;
  env?: Array<{ name: string; value: string }> | null;
  cwd?: string | null;
  outputByteLimit?: number | null;
}

export interface TerminalOutput {
  output: string;
  truncated: boolean;
  exitStatus: TerminalExit | null;
}

export interface SessionTerminals {
  create(params: CreateTerminalParams): Promise<{ terminalId: string }>;
  output(terminalId: string): TerminalOutput;
  waitForExit(terminalId: string): Promise<TerminalExit>;
  kill(terminalId: string): void;
  release(terminalId: string): void;
  /** The output so far as text, or null for an unknown id (for tool results that embed a terminal). */
  peek(terminalId: string): string | null;
  /** Kills every terminal (the session ends). */
  closeAll(): void;
}

export interface SessionTerminalsOptions {
  projectPath: string;
  env: NodeJS.ProcessEnv;
  maxTerminals: number;
  maxOutputBytes: number;
  spawnPty?: SpawnPty;
}

/** Drops bytes from the front, then any UTF-8 continuation bytes, so the rest decodes cleanly. */
function keepTail(buffer: Buffer, limit: number): Buffer {
  if (buffer.length <= limit) return buffer;
  let start = buffer.length - limit;
  while (start < buffer.length && (buffer[start] & 0xc0) === 0x80) start++;
  return buffer.subarray(start);
}

export function createSessionTerminals(options: SessionTerminalsOptions): SessionTerminals {
  const spawnPty = options.spawnPty ?? defaultSpawnPty;
  const terminals = new Map<string, Terminal>();
  /** The last output of released terminals: a tool result often arrives after the release. */
  const released = new Map<string, string>();

  const get = (terminalId: string): Terminal => {
    const terminal = terminals.get(terminalId);
    if (!terminal) throw new RequestError(-32002, `unknown terminal: ${String(terminalId).slice(0, 80)}`);
    return terminal;
  };

  return {
    async create(params) {
      if (terminals.size >= options.maxTerminals) {
        throw new RequestError(-32602, `too many terminals in this session (${options.maxTerminals}, maxTerminalsPerSession); release one first`);
      }
      const cwd = params.cwd ? await confinePath(options.projectPath, params.cwd) : options.projectPath;
      const env: Record<string, string> = {};
      for (const [key, value] of Object.entries(options.env)) if (typeof value === 'string') env[key] = value;
      for (const variable of params.env ?? []) env[variable.name] = variable.value;
      const args = params.args ?? [];
      const [file, argv] = args.length === 0 ? ['/bin/sh', ['-c', params.command]] : [params.command, args];
      let pty: PtyHandle;
      try {
        pty = spawnPty(file, argv, { name: 'xterm-256color', cols: 120, rows: 30, cwd, env });
      } catch (error) {
        throw new RequestError(-32603, `could not start "${params.command}": ${(error as Error).message}`);
      }
      const requested = typeof params.outputByteLimit === 'number' && params.outputByteLimit > 0 ? Math.floor(params.outputByteLimit) : options.maxOutputBytes;
      const terminal: Terminal = {
        id: `term_${randomUUID()}`,
        pty,
        output: Buffer.alloc(0),
        limit: Math.min(requested, options.maxOutputBytes),
        truncated: false,
        exit: null,
        exited: Promise.resolve({ exitCode: null, signal: null }),
      };
      terminal.exited = new Promise((resolve) => {
        pty.onExit(({ exitCode, signal }) => {
          terminal.exit = { exitCode: signal ? null : exitCode, signal: signal ? `signal ${signal}` : null };
          resolve(terminal.exit);
        });
      });
      pty.onData((data) => {
        const joined = Buffer.concat([terminal.output, Buffer.from(data, 'utf8')]);
        if (joined.length > terminal.limit) terminal.truncated = true;
        terminal.output = keepTail(joined, terminal.limit);
      });
      terminals.set(terminal.id, terminal);
      return { terminalId: terminal.id };
    },

    output(terminalId) {
      const terminal = get(terminalId);
      return { output: terminal.output.toString('utf8'), truncated: terminal.truncated, exitStatus: terminal.exit };
    },

    waitForExit(terminalId) {
      return get(terminalId).exited;
    },

    kill(terminalId) {
      const terminal = get(terminalId);
      if (!terminal.exit) signalPtyGroup(terminal.pty, 'SIGKILL');
    },

    release(terminalId) {
      const terminal = get(terminalId);
      if (!terminal.exit) signalPtyGroup(terminal.pty, 'SIGKILL');
      terminals.delete(terminalId);
      released.set(terminalId, terminal.output.toString('utf8'));
      while (released.size > options.maxTerminals) released.delete(released.keys().next().value as string);
    },

    peek(terminalId) {
      const terminal = terminals.get(terminalId);
      return terminal ? terminal.output.toString('utf8') : (released.get(terminalId) ?? null);
    },

    closeAll() {
      for (const terminal of terminals.values()) if (!terminal.exit) signalPtyGroup(terminal.pty, 'SIGKILL');
      terminals.clear();
      released.clear();
    },
  };
}
