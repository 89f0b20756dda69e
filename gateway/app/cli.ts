#!/usr/bin/env node
/**
 * The `agent-gateway` command (`npm start`; built to dist/cli.js). What it does is in cli/main.ts;
 * the server itself is standalone.ts. `agent-gateway record …` is recording/recordCommand.ts.
 */
// First: the V8 setting applies to everything loaded and allocated after it (v8Tuning.ts).
import './tunedV8.js';
import { runCli } from './cli/main.js';
import { runRecordCommand } from './recording/recordCommand.js';
import { startStandalone } from './standalone.js';

const [subcommand, ...rest] = process.argv.slice(2);
const running = subcommand === 'record' ? runRecordCommand(rest) : runCli(startStandalone);
running.catch((error: unknown) => {
  console.error('agent-gateway: unexpected failure', error);
  process.exit(1);
});
