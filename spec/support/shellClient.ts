/**
 * A /shell client for specs: records every frame, and (unless `mirror: false`) feeds every
 * `output` frame into its own headless terminal, so a spec can compare what a browser would show.
 */
import xtermHeadless from '@xterm/headless';
import { WebSocket } from 'ws';

export type ShellFrame =
  | { type: 'output'; data: string }
  | { type: 'auth_url'; url: string; autoOpen: boolean }
  | { type: 'error'; message: string };

export interface ShellClientOptions {
  cols?: number;
  rows?: number;
  scrollback?: number;
  /** Feed output into a client-side headless terminal (default true). */
  mirror?: boolean;
}

export interface ScreenState {
  /** Every line of the active buffer (scrollback included for the normal buffer), right-trimmed. */
  lines: string[];
  /** The visible rows only. */
  viewport: string[];
  cursor: { x: number; y: number };
  buffer: 'normal' | 'alternate';
}

export class ShellTestClient {
  readonly frames: ShellFrame[] = [];
  output = '';
  receivedChars = 0;
  closeCode: number | null = null;
  readonly terminal: InstanceType<typeof xtermHeadless.Terminal> | null;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket, options: ShellClientOptions) {
    this.terminal =
      options.mirror === false
        ? null
        : new xtermHeadless.Terminal({
            cols: options.cols ?? 80,
            rows: options.rows ?? 24,
            scrollback: options.scrollback ?? 10_000,
            allowProposedApi: true,
          });
    ws.on('message', (raw) => {
      const text = raw.toString();
      this.receivedChars += text.length;
      const frame = JSON.parse(text) as ShellFrame;
      if (frame.type === 'output') {
        this.terminal?.write(frame.data);
        // Without a terminal (throughput specs) only the tail of the output is kept.
        this.output = this.terminal ? this.output + frame.data : (this.output + frame.data).slice(-4096);
      }
      if (this.terminal || frame.type !== 'output') this.frames.push(frame);
      this.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
  }

  static connect(url: string, options: ShellClientOptions = {}): Promise<ShellTestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const client = new ShellTestClient(ws, options);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  init(fields: Record<string, unknown>): void {
    this.send({ type: 'init', cols: this.terminal?.cols ?? 80, rows: this.terminal?.rows ?? 24, ...fields });
  }

  input(data: string): void {
    this.send({ type: 'input', data });
  }

  /** Resolves when `check()` is truthy (re-checked on every frame); rejects after `timeoutMs`. */
  waitFor<T>(check: () => T, what: string, timeoutMs = 8000): Promise<NonNullable<T>> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value) {
          cleanup();
          resolve(value as NonNullable<T>);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; last output: ${JSON.stringify(this.output.slice(-300))}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(attempt);
      };
      this.waiters.add(attempt);
      attempt();
    });
  }

  waitForOutput(pattern: string | RegExp, timeoutMs?: number): Promise<true> {
    const test = () => (typeof pattern === 'string' ? this.output.includes(pattern) : pattern.test(this.output));
    return this.waitFor(() => test() || null, `output ${String(pattern)}`, timeoutMs).then(() => true);
  }

  waitForFrame<T extends ShellFrame['type']>(
    type: T,
    match: (frame: Extract<ShellFrame, { type: T }>) => boolean = () => true,
    timeoutMs?: number,
  ): Promise<Extract<ShellFrame, { type: T }>> {
    return this.waitFor(
      () => this.frames.find((frame): frame is Extract<ShellFrame, { type: T }> => frame.type === type && match(frame as never)),
      `a ${type} frame`,
      timeoutMs,
    );
  }

  /** The client terminal's state once everything received so far is parsed. */
  screen(): Promise<ScreenState> {
    const terminal = this.terminal;
    if (!terminal) throw new Error('this client has no terminal');
    return new Promise((resolve) => {
      terminal.write('', () => {
        const buffer = terminal.buffer.active;
        const lines: string[] = [];
        for (let y = 0; y < buffer.length; y++) lines.push(buffer.getLine(y)?.translateToString(true) ?? '');
        resolve({
          lines,
          viewport: lines.slice(buffer.baseY, buffer.baseY + terminal.rows),
          cursor: { x: buffer.cursorX, y: buffer.cursorY },
          buffer: buffer.type,
        });
      });
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    }).then(() => {
      this.terminal?.dispose();
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
