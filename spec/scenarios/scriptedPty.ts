/**
 * A scripted stand-in for node-pty's `spawn`: no process, output and exit come from `pty`
 * steps, and everything the gateway does to the PTY (writes, resizes, pause, kill) is kept for
 * expectations. Its pid lies above Linux's PID_MAX_LIMIT (2^22), so a signal the gateway
 * sends to it (or to its process group) can never reach a real process.
 */
import type { IPty } from 'node-pty';

import type { SpawnPty } from '../../gateway/shell/ptyProcesses.js';
import type { Waiter } from './waiter.js';

const FAKE_PID_BASE = 4_194_304 + 1000;
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

type Listener<T> = (value: T) => void;

export interface ScriptedPty {
  index: number;
  file: string;
  args: string[];
  /** The `bash -c` command. */
  command: string;
  cwd: string;
  env: Record<string, string>;
  cols: number;
  rows: number;
  /** Everything written since the last `takeInput()`. */
  input: string;
  paused: boolean;
  killedWith: string | null;
  exited: boolean;
  /** Chunks the gateway still listens for (sent before any kill or exit). */
  deliveredChunks: number;
  output(data: string): void;
  exit(code: number, signal?: number): void;
  takeInput(): string;
}

export interface ScriptedPtyHost {
  readonly spawnPty: SpawnPty;
  readonly ptys: ScriptedPty[];
}

export function createScriptedPtyHost(waiter: Waiter): ScriptedPtyHost {
  const ptys: ScriptedPty[] = [];

  const spawnPty = ((file: string, args: string[] | string, options: { cwd?: string; env?: Record<string, string | undefined>; cols?: number; rows?: number }) => {
    const dataListeners = new Set<Listener<string>>();
    const exitListeners = new Set<Listener<{ exitCode: number; signal?: number }>>();
    const argv = Array.isArray(args) ? args : [args];
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(options.env ?? {})) if (value !== undefined) env[key] = value;

    const pty: ScriptedPty = {
      index: ptys.length,
      file,
      args: argv,
      command: argv[argv.length - 1] ?? '',
      cwd: options.cwd ?? '',
      env,
      cols: options.cols ?? 80,
      rows: options.rows ?? 24,
      input: '',
      paused: false,
      killedWith: null,
      exited: false,
      deliveredChunks: 0,
      output(data) {
        if (pty.exited) throw new Error(`pty ${pty.index} has exited: it cannot print`);
        if (pty.killedWith === null) pty.deliveredChunks += 1;
        for (const listener of [...dataListeners]) listener(data);
      },
      exit(code, signal) {
        if (pty.exited) return;
        pty.exited = true;
        for (const listener of [...exitListeners]) listener({ exitCode: code, signal });
        waiter.wake();
      },
      takeInput() {
        const taken = pty.input;
        pty.input = '';
        return taken;
      },
    };

    const handle = {
      pid: FAKE_PID_BASE + pty.index,
      get cols() {
        return pty.cols;
      },
      get rows() {
        return pty.rows;
      },
      process: file,
      handleFlowControl: false,
      onData(listener: Listener<string>) {
        dataListeners.add(listener);
        return { dispose: () => dataListeners.delete(listener) };
      },
      onExit(listener: Listener<{ exitCode: number; signal?: number }>) {
        exitListeners.add(listener);
        return { dispose: () => exitListeners.delete(listener) };
      },
      write(data: string) {
        pty.input += data;
        waiter.wake();
      },
      resize(cols: number, rows: number) {
        pty.cols = cols;
        pty.rows = rows;
        waiter.wake();
      },
      pause() {
        pty.paused = true;
        waiter.wake();
      },
      resume() {
        pty.paused = false;
        waiter.wake();
      },
      clear() {},
      kill(signal = 'SIGHUP') {
        if (pty.killedWith === null) pty.killedWith = signal;
        waiter.wake();
        // A real PTY dies of the hang-up a moment later.
        if (!pty.exited) queueMicrotask(() => pty.exit(0, SIGNALS[signal] ?? 1));
      },
    };

    ptys.push(pty);
    waiter.wake();
    return handle as unknown as IPty;
  }) as SpawnPty;

  return { spawnPty, ptys };
}
