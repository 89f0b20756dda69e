/**
 * What the `agent-gateway` command does, apart from the process it runs in: parse the options,
 * start the server, close it on SIGINT/SIGTERM. The process is a parameter so a test can watch
 * exit codes and send signals without killing itself.
 *
 * Exit codes: 0 help or clean shutdown; 1 start failure, close failure or forced exit;
 * 2 bad command line.
 */
import { commandName, parseCliOptions, type CliOptions } from './options.js';

/** A shutdown that takes longer is stuck (a socket that never closes): exit anyway. */
export const FORCE_EXIT_AFTER_MS = 10_000;

export interface StandaloneHandle {
  close(): Promise<void> | void;
}

export type StartStandalone = (options: CliOptions) => Promise<StandaloneHandle>;

export type ShutdownSignal = 'SIGINT' | 'SIGTERM';

export interface CliProcess {
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
  exit(code: number): void;
  onSignal(signal: ShutdownSignal, handler: () => void): void;
}

export function nodeCliProcess(): CliProcess {
  return {
    argv: process.argv.slice(2),
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    exit: (code) => process.exit(code),
    onSignal: (signal, handler) => process.on(signal, handler),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A start failure a user can fix from the command line gets a hint naming the option. */
function startHint(error: unknown, command: string): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') return `The port is taken by another process: choose another with "${command} --port N" (0: any free port).\n`;
  if (code === 'EACCES') return `Not allowed to listen there: ports below 1024 need root; try "${command} --port 3001".\n`;
  if (code === 'EADDRNOTAVAIL') return `No network interface has that address: check "${command} --host ADDR".\n`;
  return '';
}

export async function runCli(start: StartStandalone, proc: CliProcess = nodeCliProcess(), forceExitAfterMs = FORCE_EXIT_AFTER_MS): Promise<void> {
  let parsed: ReturnType<typeof parseCliOptions>;
  try {
    parsed = parseCliOptions(proc.argv, proc.env);
  } catch (error) {
    proc.stderr(`agent-gateway: ${messageOf(error)}\nRun "${commandName(proc.env)} --help" to list the options.\n`);
    proc.exit(2);
    return;
  }
  if ('help' in parsed) {
    proc.stdout(parsed.help);
    proc.exit(0);
    return;
  }

  let handle: StandaloneHandle;
  try {
    handle = await start(parsed);
  } catch (error) {
    proc.stderr(`agent-gateway: could not start: ${messageOf(error)}\n${startHint(error, commandName(proc.env))}`);
    proc.exit(1);
    return;
  }

  let forceExit: ReturnType<typeof setTimeout> | undefined;
  const shutdown = (signal: ShutdownSignal) => {
    if (forceExit !== undefined) {
      clearTimeout(forceExit);
      proc.stderr(`agent-gateway: ${signal} again, exiting without waiting\n`);
      proc.exit(1);
      return;
    }
    proc.stderr(`agent-gateway: ${signal} received, shutting down\n`);
    forceExit = setTimeout(() => {
      proc.stderr(`agent-gateway: shutdown took longer than ${forceExitAfterMs} ms, exiting anyway\n`);
      proc.exit(1);
    }, forceExitAfterMs);
    Promise.resolve()
      .then(() => handle.close())
      .then(
        () => {
          clearTimeout(forceExit);
          proc.exit(0);
        },
        (error: unknown) => {
          clearTimeout(forceExit);
          proc.stderr(`agent-gateway: shutdown failed: ${messageOf(error)}\n`);
          proc.exit(1);
        },
      );
  };
  proc.onSignal('SIGINT', () => shutdown('SIGINT'));
  proc.onSignal('SIGTERM', () => shutdown('SIGTERM'));
}
