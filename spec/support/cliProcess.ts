/** Starts the real `agent-gateway` CLI as a child process, the way `npm start` runs it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { delimiter } from 'node:path';

import { GATEWAY_V8_FLAGS } from '../../gateway/v8Tuning.js';

export interface CliChild {
  child: ChildProcess;
  url: string;
  port: number;
  token: string;
  /** stdout and stderr as they arrived, interleaved. */
  output: () => string;
  /** stdout alone, in the order the child wrote it (the banner and the logger's debug/info lines). */
  stdout: () => string;
  /** stderr alone (the logger's warn/error lines, the CLI's own messages). */
  stderr: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export interface StartCliOptions {
  /** A command in front of node (`setpriv …` to run as another user). */
  prefix?: string[];
  /** How long the CLI may take to print its URL and token. */
  startTimeoutMs?: number;
  /** node's own flags; by default `npm start`'s (GATEWAY_V8_FLAGS). */
  nodeFlags?: readonly string[];
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, options: StartCliOptions = {}): Promise<CliChild> {
  const prefix = options.prefix ?? [];
  const nodeArgs = [...(options.nodeFlags ?? GATEWAY_V8_FLAGS), '--import', 'tsx', 'gateway/app/cli.ts', ...args];
  const [command, ...commandArgs] = prefix.length > 0 ? [...prefix, process.execPath, ...nodeArgs] : [process.execPath, ...nodeArgs];
  // Specs keep their projects in temp dirs: unless a spec says otherwise (workspace.spec tests the
  // default), the workspace is the checkout and the temp dir.
  const roots = args.includes('--workspace-root') || 'GATEWAY_WORKSPACE_ROOTS' in env ? {} : { GATEWAY_WORKSPACE_ROOTS: [process.cwd(), tmpdir()].join(delimiter) };
  const child = spawn(command, commandArgs, {
    env: { ...process.env, ...roots, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`CLI did not start:\n${output}`)), options.startTimeoutMs ?? 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      stdout += chunk.toString();
      const url = output.match(/listening on (http:\/\/[^\s]+)/);
      const token = output.match(/token:\s+(\S+)/);
      if (url && token) {
        clearTimeout(timer);
        resolve({
          child,
          url: url[1],
          port: Number(new URL(url[1]).port),
          token: token[1],
          output: () => output,
          stdout: () => stdout,
          stderr: () => stderr,
          exited,
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      stderr += chunk.toString();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`CLI exited with ${code} before starting:\n${output}`));
    });
  });
}
