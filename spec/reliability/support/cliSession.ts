/**
 * Helpers around the real CLI child process (spec/support/cliProcess.ts): REST session creation,
 * reading its SQLite file after it is gone, and waiting for its exit with a bound.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { openDatabase } from '../../../persistence/database.js';
import type { CliChild } from '../../support/cliProcess.js';

export const DATABASE_FILE = 'agent-gateway.sqlite';

export async function createCliSession(cli: CliChild, projectPath: string): Promise<string> {
  const response = await fetch(`${cli.url}/api/providers/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cli.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'demo', projectPath }),
  });
  if (response.status !== 201) throw new Error(`session creation answered ${response.status}`);
  return ((await response.json()) as { sessionId: string }).sessionId;
}

export const wsUrl = (cli: CliChild) => cli.url.replace(/^http/, 'ws');

export interface StoredEvent {
  seq: number;
  runId: string;
  kind: string;
  json: string;
}

export interface StoredState {
  integrity: string;
  events: StoredEvent[];
  runs: Array<{ runId: string; status: string; aborted: number | boolean | null; exitCode: number | null }>;
}

/** What the data dir's database holds for a session (opened after the server is gone). */
export function readStore(dataDir: string, sessionId: string): StoredState {
  const database = openDatabase(join(dataDir, DATABASE_FILE));
  try {
    const integrity = (database.sqlite.pragma('integrity_check', { simple: true }) as string) ?? '';
    const events = database.sqlite
      .prepare('SELECT seq, run_id AS runId, kind, json FROM chat_events WHERE session_id = ? ORDER BY seq')
      .all(sessionId) as StoredEvent[];
    const runs = database.sqlite
      .prepare('SELECT run_id AS runId, status, aborted, exit_code AS exitCode FROM runs WHERE session_id = ?')
      .all(sessionId) as StoredState['runs'];
    return { integrity, events, runs };
  } finally {
    database.close();
  }
}

/** The exit code and how long the process took to exit after `since`; rejects past `boundMs`. */
export async function exitWithin(cli: CliChild, since: number, boundMs: number): Promise<{ code: number | null; ms: number }> {
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the CLI did not exit within ${boundMs} ms`)), boundMs));
  const code = await Promise.race([cli.exited, timer]);
  return { code, ms: Date.now() - since };
}

/**
 * Like spec/support/cliProcess.ts's startCli, with an optional command in front (`setpriv …` to run
 * as another user) and a longer start bound for loaded machines.
 */
export function startCliWith(args: string[], options: { env?: NodeJS.ProcessEnv; prefix?: string[] } = {}): Promise<CliChild> {
  const prefix = options.prefix ?? [];
  const command = prefix.length > 0 ? prefix[0] : process.execPath;
  const commandArgs = [...prefix.slice(1), ...(prefix.length > 0 ? [process.execPath] : []), '--import', 'tsx', 'gateway/cli.ts', ...args];
  const child = spawn(command, commandArgs, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`CLI did not start:\n${output}`)), 40_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = output.match(/listening on (http:\/\/[^\s]+)/);
      const token = output.match(/token:\s+(\S+)/);
      if (url && token) {
        clearTimeout(timer);
        resolve({ child, url: url[1], port: Number(new URL(url[1]).port), token: token[1], output: () => output, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`CLI exited with ${code} before starting:\n${output}`));
    });
  });
}

/** GET /healthz as JSON. */
export async function health(cli: CliChild): Promise<{ status: string; eventLog?: { degraded: boolean; lastError: string | null; pendingEvents: number } }> {
  const response = await fetch(`${cli.url}/healthz`);
  return (await response.json()) as { status: string };
}
