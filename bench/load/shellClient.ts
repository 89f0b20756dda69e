/** /shell client steps for the load generator: a throughput reader and a screen-restore probe. */
import { WebSocket } from 'ws';

import { nowUs } from '../lib/clock.js';

const EXIT_MARK = 'Process exited with code';
const FULL_RESET = '\x1bc';

interface ShellFrame {
  type: string;
  data?: string;
}

export interface ShellTarget {
  url: string;
  projectPath: string;
  command: string;
  cols: number;
  rows: number;
}

class ShellSocket {
  tail = '';
  chars = 0;
  frames = 0;
  exited = false;
  private readonly listeners = new Set<(frame: ShellFrame, raw: Buffer) => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as ShellFrame;
      this.frames++;
      if (frame.type === 'output' && typeof frame.data === 'string') {
        this.chars += frame.data.length;
        this.tail = (this.tail + frame.data).slice(-4096);
        if (frame.data.includes(EXIT_MARK)) this.exited = true;
      }
      for (const listener of [...this.listeners]) listener(frame, raw);
    });
    ws.on('error', () => {});
  }

  static open(url: string): Promise<ShellSocket> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    const socket = new ShellSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(socket));
      ws.once('error', reject);
    });
  }

  init(target: ShellTarget): void {
    this.ws.send(
      JSON.stringify({
        type: 'init',
        projectPath: target.projectPath,
        isPlainShell: true,
        initialCommand: target.command,
        cols: target.cols,
        rows: target.rows,
      }),
    );
  }

  /** Resolves when `done(frame)` is true for a frame; rejects after `timeoutMs`. */
  until(done: (frame: ShellFrame, raw: Buffer) => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const listener = (frame: ShellFrame, raw: Buffer) => {
        if (!done(frame, raw)) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; tail ${JSON.stringify(this.tail.slice(-200))}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 3000);
      this.ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.close();
    });
  }
}

export interface ThroughputResult {
  chars: number;
  ms: number;
  frames: number;
}

/**
 * Starts the command in a fresh PTY and reads until `expectChars` characters have arrived (the
 * clock stops there), then until the exit line.
 */
export async function readShellStream(target: ShellTarget, expectChars: number, timeoutMs: number): Promise<ThroughputResult> {
  const socket = await ShellSocket.open(target.url);
  try {
    let doneUs = 0;
    const exited = socket.until(
      () => {
        if (doneUs === 0 && socket.chars >= expectChars) doneUs = nowUs();
        return socket.exited;
      },
      timeoutMs,
      'the PTY to exit',
    );
    const startUs = nowUs();
    socket.init(target);
    await exited;
    return { chars: socket.chars, ms: ((doneUs || nowUs()) - startUs) / 1000, frames: socket.frames };
  } finally {
    await socket.close();
  }
}

export interface RestoreResult {
  ms: number;
  /** Characters of terminal data that restored the screen (after the reconnect notice). */
  restoreChars: number;
  /** Bytes on the wire for them (JSON frames). */
  restoreFrameBytes: number;
  restoreFrames: number;
}

/**
 * Viewer A runs `target.command` until `marker` shows; viewer B then attaches to the same PTY and
 * the time until its screen is restored is measured (the gateway: one frame starting with a full
 * reset; bare: raw chunks up to `replay_end`). A then presses Enter so the command ends.
 */
export async function measureRestore(target: ShellTarget, marker: string, timeoutMs: number): Promise<RestoreResult> {
  const first = await ShellSocket.open(target.url);
  let second: ShellSocket | null = null;
  try {
    const ready = first.until(() => first.tail.includes(marker), timeoutMs, 'the coloured output');
    first.init(target);
    await ready;
    second = await ShellSocket.open(target.url);
    let noticeSeen = false;
    const result: RestoreResult = { ms: 0, restoreChars: 0, restoreFrameBytes: 0, restoreFrames: 0 };
    const restored = second.until(
      (frame, raw) => {
        if (!noticeSeen) {
          noticeSeen = frame.type === 'output' && (frame.data ?? '').includes('Reconnected to existing session');
          return false;
        }
        if (frame.type === 'replay_end') return true;
        if (frame.type !== 'output') return false;
        result.restoreChars += frame.data?.length ?? 0;
        result.restoreFrameBytes += raw.length;
        result.restoreFrames++;
        return (frame.data ?? '').startsWith(FULL_RESET);
      },
      timeoutMs,
      'the screen restore',
    );
    const startUs = nowUs();
    second.init(target);
    await restored;
    result.ms = (nowUs() - startUs) / 1000;
    const ended = first.until(() => first.exited, timeoutMs, 'the command to end');
    first.ws.send(JSON.stringify({ type: 'input', data: '\r' }));
    await ended;
    return result;
  } finally {
    await first.close();
    await second?.close();
  }
}
