/**
 * The OS user PTYs run as (`shell.user`, `--shell-user`). Without one, a terminal runs as the
 * gateway's own user and can read everything the gateway can: its environment through
 * /proc/<pid>/environ, its data dir and token, the host's secrets. Hiding variables from the PTY's
 * environment is not a boundary; a different OS user is.
 *
 * Resolved once at startup, synchronously, and refused with a clear message when the user does
 * not exist, is the gateway's own user, or the gateway cannot switch to it (it is not root, or
 * `setpriv` from util-linux is missing): better not to start than to start terminals as the
 * wrong user. The switch itself happens in the PTY launcher (ptyLaunch.ts).
 */
import { execFileSync } from 'node:child_process';

export interface ShellUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** getent and the setpriv probe answer in milliseconds; a hung NSS lookup must not hang startup. */
const LOOKUP_TIMEOUT_MS = 5000;

function describe(error: unknown): string {
  const failure = error as { code?: string; stderr?: Buffer | string; message?: string };
  const stderr = failure.stderr ? String(failure.stderr).trim() : '';
  return stderr || failure.code || failure.message || String(error);
}

/** `getent passwd` knows local users and those of NSS (LDAP, sssd) alike, by name or by uid. */
function lookUp(spec: string, option: string): ShellUser | null {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', spec], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: LOOKUP_TIMEOUT_MS });
  } catch (error) {
    // Exit status 2: no such user.
    if ((error as { status?: number }).status === 2) return null;
    throw new Error(`${option} "${spec}": looking the user up failed (${describe(error)})`);
  }
  const [name, , uid, gid, , home] = line.trim().split('\n')[0].split(':');
  if (!name || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? '')) throw new Error(`${option} "${spec}": getent answered "${line.trim()}"`);
  return { name, uid: Number(uid), gid: Number(gid), home: home || '/' };
}

/**
 * The user named by `spec` (a name, or a uid as a number or digits), checked to be one the
 * gateway can run PTYs as; throws an Error saying why not. `option` names the setting in messages.
 */
export function resolveShellUser(spec: string | number, option = 'shell.user'): ShellUser {
  const text = String(spec).trim();
  if (text === '' || !/^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$/.test(text)) throw new Error(`${option} must be a user name or uid, got "${String(spec)}"`);
  const user = lookUp(text, option);
  if (!user) throw new Error(`${option} "${text}": no such user`);
  if (user.uid === process.getuid?.()) {
    throw new Error(`${option} "${text}" is the gateway's own user: terminals would reach everything the gateway can; name another user`);
  }
  // The switch the launcher will make, made once now: fails unless the gateway may change users.
  try {
    execFileSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'true'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: LOOKUP_TIMEOUT_MS,
    });
  } catch (error) {
    const why = (error as { code?: string }).code === 'ENOENT' ? 'setpriv (util-linux) is not installed' : describe(error);
    throw new Error(`${option} "${text}": the gateway cannot run terminals as this user (${why}); it must run as root to switch users`);
  }
  return user;
}

/** The variables a login as `user` would set, over the gateway's own. */
export function shellUserEnvironment(user: ShellUser): Record<string, string> {
  return { HOME: user.home, USER: user.name, LOGNAME: user.name };
}
