/**
 * The real CLI on one data dir that a spec can stop and start again (a gateway restart), with its
 * token fixed, its data dir as the workspace, and REST session creation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createCliSession } from '../reliability/support/cliSession.js';
import { startCli, type CliChild } from './cliProcess.js';

export interface RestartableCli {
  readonly dataDir: string;
  readonly token: string;
  /** `Authorization: Bearer <token>`. */
  readonly auth: { authorization: string };
  /** The CLI while it runs. */
  readonly running: CliChild | null;
  start(): Promise<CliChild>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** Stops it and removes the data dir. */
  cleanup(): Promise<void>;
  /** A demo session in the data dir, over REST. */
  createSession(): Promise<string>;
}

export function restartableCli(prefix: string, token: string): RestartableCli {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  let cli: CliChild | null = null;
  const fixture: RestartableCli = {
    dataDir,
    token,
    auth: { authorization: `Bearer ${token}` },
    get running() {
      return cli;
    },
    async start() {
      const args = ['--port', '0', '--data-dir', dataDir, '--demo-pace-ms', '0', '--log-level', 'warn', '--workspace-root', dataDir];
      cli = await startCli(args, { GATEWAY_TOKEN: token });
      return cli;
    },
    async stop() {
      if (!cli) return;
      cli.child.kill('SIGTERM');
      await cli.exited;
      cli = null;
    },
    async cleanup() {
      await fixture.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
    createSession() {
      if (!cli) throw new Error('the CLI is not running');
      return createCliSession(cli, dataDir);
    },
  };
  return fixture;
}
