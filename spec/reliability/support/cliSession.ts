/**
 * Helpers around the real CLI child process (spec/support/cliProcess.ts): REST session creation,
 * reading its SQLite file after it is gone, and waiting for its exit with a bound.
 */
import { join } from 'node:path';

import { openDatabase } from '../../../persistence/database.js';
import { startCli, type CliChild } from '../../support/cliProcess.js';
import { storedEvents } from '../../support/storedEvents.js';

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
    const events: StoredEvent[] = storedEvents(database.sqlite, sessionId).map(({ seq, runId, kind, json }) => ({ seq, runId, kind, json }));
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
  let guard: NodeJS.Timeout | undefined;
  const timer = new Promise<never>((_, reject) => {
    guard = setTimeout(() => reject(new Error(`the CLI did not exit within ${boundMs} ms`)), boundMs);
  });
  try {
    const code = await Promise.race([cli.exited, timer]);
    return { code, ms: Date.now() - since };
  } finally {
    clearTimeout(guard);
  }
}

/** The real CLI, with an optional command in front and a longer start bound for loaded machines. */
export function startCliWith(args: string[], options: { env?: NodeJS.ProcessEnv; prefix?: string[] } = {}): Promise<CliChild> {
  return startCli(args, options.env ?? {}, { prefix: options.prefix, startTimeoutMs: 40_000 });
}

/** GET /healthz as JSON. */
export async function health(cli: CliChild): Promise<{ status: string; eventLog?: { degraded: boolean; lastError: string | null; pendingEvents: number } }> {
  const response = await fetch(`${cli.url}/healthz`);
  return (await response.json()) as { status: string };
}
