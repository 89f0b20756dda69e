/**
 * How a PTY's program is started: the one place that decides what a PTY process may hold and
 * which OS user it runs as.
 *
 * Why a launcher: node-pty 1.1.0 on Linux forks with forkpty() and execs the program without
 * closing anything, and the /dev/ptmx master it opens for each PTY has no FD_CLOEXEC. Exec'd
 * directly, every PTY process would inherit the master of every PTY opened before it (and any
 * other fd of the gateway not marked close-on-exec): a program in one terminal could type
 * commands into another, and a terminal would not hang up while some other PTY process still
 * held its master. So each PTY first runs a tiny bash script that closes every fd above 2, then,
 * when a shell user is configured, drops to that user (`setpriv`, which also sets its
 * supplementary groups: node-pty's own uid/gid options would keep the gateway's), and only then
 * execs `bash -c <command>`. Every step is an exec, so the PTY's pid is the program's pid.
 *
 * The command is passed as a positional parameter, never spliced into the script, and it is the
 * last argument (recording and scripted PTYs read the command from there).
 */
import type { ShellUser } from './shellUser.js';

/** `$0` of the launcher: what `ps` shows until it has exec'd the command (a few milliseconds). */
export const PTY_LAUNCHER_NAME = 'agent-gateway-pty';

/**
 * $1 = the command, or $1 = uid, $2 = gid, $3 = the command. Fds come from /proc/$$/fd (/dev/fd
 * where there is no /proc); the listing's own fd is already closed when the loop reaches it,
 * which `exec {fd}>&-` accepts silently. The launcher runs in POSIX mode: a non-interactive bash
 * then reads no startup file, so a `BASH_ENV` in the gateway's environment cannot run anything
 * while the fds are still open. The command's own bash is not in POSIX mode and reads `BASH_ENV`
 * as before.
 */
const LAUNCHER_SCRIPT = [
  'dir=/proc/$$/fd; [[ -d $dir ]] || dir=/dev/fd',
  'for fd in "$dir"/*; do fd=${fd##*/}; if [[ $fd =~ ^[0-9]+$ ]] && (( fd > 2 )); then exec {fd}>&-; fi; done',
  'if (( $# == 3 )); then exec setpriv --reuid="$1" --regid="$2" --init-groups -- bash -c "$3"; fi',
  'exec bash -c "$1"',
].join('\n');

export interface PtyLaunch {
  file: string;
  args: string[];
}

/** What node-pty spawns for `command` (run by `bash -c`), as `user` when one is given. */
export function ptyLaunch(command: string, user: ShellUser | null): PtyLaunch {
  const identity = user ? [String(user.uid), String(user.gid)] : [];
  return { file: 'bash', args: ['--posix', '-c', LAUNCHER_SCRIPT, PTY_LAUNCHER_NAME, ...identity, command] };
}
