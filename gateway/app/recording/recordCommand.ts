/**
 * `agent-gateway record --out FILE [server options]`: runs the standalone server (demo agent,
 * shells) with a session recorder, and writes the recording as a scenario file when it stops
 * (Ctrl-C). Replay it with `npm run scenario -- FILE`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as nodePty from 'node-pty';

import { openDatabase } from '../../../persistence/database.js';
import { createSqliteSessionStore } from '../../../persistence/sessionStore.js';
import { nodeCliProcess, runCli, type CliProcess } from '../cli/main.js';
import { DATABASE_FILE_NAME, startStandalone } from '../standalone.js';
import { createSessionRecorder } from './recorder.js';

export const RECORD_HELP = `Usage: agent-gateway record --out FILE [options]

Runs the agent-gateway server like "agent-gateway [options]" and records every session on it:
frames in and out of /ws and /shell, every provider runtime call and event, every PTY's output.
Stop it with Ctrl-C; the recording is then written to FILE as a scenario
(docs/SCENARIOS.md). Replay it with: npm run scenario -- FILE

  --out FILE, -o FILE   where the scenario is written (required)
  --name TEXT           the scenario's name (default: "recorded session")

Every server option works as usual ("agent-gateway --help" lists them).
Not recorded: /plugin-ws tunnels, and upgrades that were refused.
`;

interface RecordArgs {
  out: string | null;
  name: string;
  rest: string[];
  help: boolean;
}

function parseRecordArgs(argv: string[]): RecordArgs {
  const parsed: RecordArgs = { out: null, name: 'recorded session', rest: [], help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    if (flag === '--out' || flag === '-o' || flag === '--name') {
      const value = inline ?? argv[++i];
      if (value === undefined || value === '') throw new Error(`${flag} needs a value`);
      if (flag === '--name') parsed.name = value;
      else parsed.out = value;
    } else if (arg === '--help' || arg === '-h') {
      parsed.help = true;
    } else {
      parsed.rest.push(arg);
    }
  }
  return parsed;
}

/** `argv` is what follows `record`. */
export async function runRecordCommand(argv: string[], proc: CliProcess = nodeCliProcess()): Promise<void> {
  let args: RecordArgs;
  try {
    args = parseRecordArgs(argv);
  } catch (error) {
    proc.stderr(`agent-gateway record: ${error instanceof Error ? error.message : String(error)}\n`);
    proc.exit(2);
    return;
  }
  if (args.help) {
    proc.stdout(RECORD_HELP);
    proc.exit(0);
    return;
  }
  const out = args.out;
  if (out === null) {
    proc.stderr('agent-gateway record: --out FILE is required\n');
    proc.exit(2);
    return;
  }
  await runCli(
    async (options) => {
      const recorder = createSessionRecorder();
      const standalone = await startStandalone(options, (line) => proc.stdout(`${line}\n`), {
        wrapRuntime: (runtime) => recorder.wrapRuntime(runtime),
        spawnPty: recorder.wrapSpawnPty(nodePty.spawn),
        onGateway: (gateway) => recorder.attach(gateway),
      });
      // Our own connection to the session table: rows are read as clients first name them.
      const database = openDatabase(join(options.dataDir, DATABASE_FILE_NAME));
      recorder.readSessionsFrom(createSqliteSessionStore(database));
      proc.stdout(`  record: every session goes to ${out} when the server stops (Ctrl-C)\n`);
      return {
        async close() {
          const text = recorder.toJSON(args.name);
          writeFileSync(out, text);
          proc.stderr(`agent-gateway record: wrote ${out} (${text.length} bytes)\n`);
          await standalone.close();
          database.close();
        },
      };
    },
    { ...proc, argv: args.rest },
  );
}
