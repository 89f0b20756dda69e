/**
 * The PTY baseline: node-pty read in-process, nothing else. Spawned like the gateway spawns a
 * plain shell (`bash -c <command>`, xterm-256color), every chunk counted and dropped.
 */
import * as nodePty from 'node-pty';

import { nowUs } from '../lib/clock.js';
import { serve } from '../lib/ipc.js';

export interface RawPtyApi {
  [method: string]: (params: never) => unknown;
  /** Reads until `expectChars` characters have arrived (the clock stops there), then until exit. */
  read(params: { command: string; cwd: string; cols: number; rows: number; expectChars: number; timeoutMs: number }): Promise<{ chars: number; ms: number; chunks: number }>;
}

const api: RawPtyApi = {
  read({ command, cwd, cols, rows, expectChars, timeoutMs }) {
    return new Promise((resolve, reject) => {
      const startUs = nowUs();
      const pty = nodePty.spawn('bash', ['-c', command], {
        name: 'xterm-256color',
        cols,
        rows,
        cwd,
        env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string>,
      });
      let chars = 0;
      let chunks = 0;
      let doneUs = 0;
      const timer = setTimeout(() => {
        pty.kill('SIGKILL');
        reject(new Error(`raw PTY read timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      pty.onData((data) => {
        chars += data.length;
        chunks++;
        if (doneUs === 0 && chars >= expectChars) doneUs = nowUs();
      });
      pty.onExit(() => {
        clearTimeout(timer);
        resolve({ chars, ms: ((doneUs || nowUs()) - startUs) / 1000, chunks });
      });
    });
  },
};

serve(api);
