#!/usr/bin/env node
/**
 * The `agent-gateway` command (`npm start`; built to dist/cli.js). What it does is in cli/main.ts;
 * the server itself is standalone.ts.
 */
import { runCli } from './cli/main.js';
import { startStandalone } from './standalone.js';

runCli(startStandalone).catch((error: unknown) => {
  console.error('agent-gateway: unexpected failure', error);
  process.exit(1);
});
