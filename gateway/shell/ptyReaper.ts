/**
 * Ends a dead gateway's PTYs. A `kill -9` of the gateway runs no shutdown code: its PTY
 * processes would live on, re-parented to PID 1. Most of them die of the hang-up when the
 * gateway's masters close (ptyLaunch.ts makes sure no other process holds one), but not a
 * program that ignores SIGHUP (`trap "" HUP`), nor jobs an interactive shell moved into process
 * groups of their own.
 *
 * So each shell route runs one tiny watchdog: a bash process started before the route's first PTY
 * (in its own session, so a Ctrl-C meant for the gateway does not reach it), holding nothing but
 * a pipe from the gateway on its stdin. The gateway writes `+<sid>` when a PTY starts and `-<sid>`
 * when it exits (node-pty makes each PTY's process a session leader, so its pid is its session
 * id). On end of file, which is what the gateway's death looks like from the other side of the
 * pipe, the watchdog SIGKILLs every process of every session it still knows and exits. A graceful
 * close ends the pipe the same way once the PTYs are gone; the sessions of PTYs killed by the
 * shutdown are still remembered then, so what their shells left behind is killed too.
 *
 * A session forgotten when its leader exited is not swept later: its number is free for reuse
 * once its last process is gone, and killing a stranger's session is worse than a leftover job.
 *
 * A watchdog that dies while the gateway lives (someone killed it) is started again with the live
 * sessions as its arguments, so it knows them from its first instruction: sent over the pipe
 * after the spawn, they were lost when the gateway died in between (seen under load: the test
 * kills the gateway the moment the new watchdog appears). One that keeps dying at once is given
 * up on, logged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

import type { Logger } from '../logger.js';

/** `$0` of the watchdog, so `ps` says what it is. */
export const PTY_REAPER_NAME = 'agent-gateway-pty-reaper';

/**
 * Passes over /proc after the first round of SIGKILLs: a process forked between the listing and
 * the kill is found by the next pass. Three covers a fork bomb's stragglers; the loop is bounded.
 */
const REAPER_KILL_PASSES = 3;
/** A watchdog that lived at least this long before dying was not failing to start: start it again. */
const REAPER_STABLE_MS = 10_000;
/** Watchdogs in a row that died sooner than REAPER_STABLE_MS before we stop starting new ones. */
const REAPER_MAX_QUICK_RESTARTS = 3;

/**
 * Closes every inherited fd above 2 (a watchdog restarted while PTYs run would hold their
 * masters), starts from the sessions given as arguments (a restart), reads `+sid`/`-sid` lines
 * until end of file, then kills each remembered session:
 * its process group at once, then every process whose session id matches (field 6 of
 * /proc/<pid>/stat; jobs of an interactive shell live in other groups of the same session).
 * A session id is not reused while any process of that session is alive, so nothing else is hit.
 * Its stderr is /dev/null, so failures (a process gone meanwhile) need no redirection of their own.
 */
const REAPER_SCRIPT = [
  'dir=/proc/$$/fd; [[ -d $dir ]] || dir=/dev/fd',
  'for fd in $dir/*; do fd=${fd##*/}; if [[ $fd =~ ^[0-9]+$ ]] && (( fd > 2 )); then exec {fd}>&-; fi; done',
  'declare -A live=()',
  'for sid in "$@"; do [[ $sid =~ ^[0-9]+$ ]] && live[$sid]=1; done',
  'while read -r line; do',
  '  case $line in',
  '    +[0-9]*) live[${line:1}]=1 ;;',
  '    -[0-9]*) unset "live[${line:1}]" ;;',
  '  esac',
  'done',
  '(( ${#live[@]} )) || exit 0',
  'for sid in "${!live[@]}"; do kill -KILL -- "-$sid"; done',
  `for (( pass = 0; pass < ${REAPER_KILL_PASSES}; pass++ )); do`,
  '  found=0',
  '  for stat in /proc/[0-9]*/stat; do',
  '    read -r fields < "$stat" || continue',
  '    set -f; set -- ${fields##*) }; set +f',
  '    if [[ $1 != Z && -n $4 && -n ${live[$4]} ]]; then pid=${stat#/proc/}; kill -KILL "${pid%/stat}"; found=1; fi',
  '  done',
  '  (( found )) || break',
  'done',
].join('\n');

export interface PtyReaper {
  /** Starts the watchdog if it is not running: call before spawning a PTY. */
  start(): void;
  /** A PTY process started: kill its session if the gateway dies. Ignored unless `pid` is our own child. */
  watch(pid: number): void;
  /** The PTY process exited. */
  forget(pid: number): void;
  /**
   * Shutdown has begun: sessions whose leader exits from now on stay remembered, so close() also
   * kills what a killed shell leaves behind in its session (a background job that ignores SIGHUP).
   */
  holdSessions(): void;
  /** The watchdog's pid, or null when none runs. */
  readonly pid: number | null;
  /** Ends the watchdog (after the route's PTYs are gone). */
  close(): void;
}

export interface PtyReaperOptions {
  logger: Logger;
}

/**
 * True when `pid` is a live child of this process: a real PTY of ours (a scripted PTY in a test
 * has a pid that is not), the only kind whose session may be killed. Its session is not checked:
 * right after the fork the child may not have called setsid() yet. (Were it never to, no session
 * or group would carry its number, and killing them would hit nothing.)
 */
function isOwnChild(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const [, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(ppid) === process.pid;
}

export function createPtyReaper({ logger }: PtyReaperOptions): PtyReaper {
  const sessions = new Set<number>();
  let child: ChildProcess | null = null;
  let startedAt = 0;
  let quickDeaths = 0;
  let closed = false;
  let holding = false;
  let gaveUp = false;

  const send = (line: string) => {
    const stdin = child?.stdin;
    if (stdin && !stdin.destroyed) stdin.write(`${line}\n`);
  };

  const launch = () => {
    // --norc: with a socket on stdin (Node's 'pipe'), bash thinks sshd started it and would source
    // ~/.bashrc first (measured: 0.3-0.8 s here, holding every inherited fd meanwhile).
    const known = [...sessions].map(String);
    const started = spawn('bash', ['--norc', '--noprofile', '-c', REAPER_SCRIPT, PTY_REAPER_NAME, ...known], {
      // Nothing but the pipe: an inherited stdout would turn the gateway's death into SIGPIPE.
      stdio: ['pipe', 'ignore', 'ignore'],
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      // Its own session and group: a terminal's Ctrl-C or hang-up aimed at the gateway spares it.
      detached: true,
    });
    child = started;
    startedAt = Date.now();
    // Neither the watchdog nor its pipe keeps the gateway's event loop alive.
    started.unref();
    (started.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    started.stdin?.on('error', (error) => logger.debug('shell: PTY reaper pipe error', { error: error.message }));
    started.on('error', (error) => {
      if (child !== started) return;
      child = null;
      gaveUp = true;
      logger.error('shell: the PTY reaper could not start; PTYs will outlive a crash of the gateway', { error: error.message });
    });
    started.on('exit', (code, signal) => {
      if (child !== started) return;
      child = null;
      if (closed) return;
      quickDeaths = Date.now() - startedAt < REAPER_STABLE_MS ? quickDeaths + 1 : 0;
      if (quickDeaths > REAPER_MAX_QUICK_RESTARTS) {
        gaveUp = true;
        logger.error('shell: the PTY reaper keeps dying; PTYs will outlive a crash of the gateway', { code, signal });
        return;
      }
      logger.warn('shell: the PTY reaper died; starting it again', { code, signal });
      launch();
    });
  };

  return {
    start() {
      if (child || closed || gaveUp) return;
      launch();
    },
    watch(pid) {
      if (closed || !isOwnChild(pid)) return;
      sessions.add(pid);
      send(`+${pid}`);
    },
    forget(pid) {
      if (holding || !sessions.delete(pid)) return;
      send(`-${pid}`);
    },
    holdSessions() {
      holding = true;
    },
    get pid() {
      return child?.pid ?? null;
    },
    close() {
      closed = true;
      child?.stdin?.end();
      child = null;
    },
  };
}
