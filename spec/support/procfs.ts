/** Reading processes from /proc for specs that check what real PTY processes hold and whether they live. */
import fs from 'node:fs';

export interface ProcStat {
  pid: number;
  comm: string;
  /** R, S, D, Z, … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
}

export function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const close = text.lastIndexOf(')');
  const [state, ppid, pgrp, session] = text.slice(close + 2).split(' ');
  return { pid, comm: text.slice(text.indexOf('(') + 1, close), state, ppid: Number(ppid), pgrp: Number(pgrp), session: Number(session) };
}

/** Whether any process (a zombie too) has this pid: `kill(pid, 0)`. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Running, sleeping or stopped; a zombie has exited (it only waits for its parent to reap it). */
export function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== null && stat.state !== 'Z';
}

export function allProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat && stat.state !== 'Z') out.push(stat);
  }
  return out;
}

/** The live processes of a session (a PTY's process leads its own, so its pid is the session id). */
export function sessionMembers(session: number): ProcStat[] {
  return allProcesses().filter((stat) => stat.session === session);
}

export function cmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((part) => part !== '');
  } catch {
    return [];
  }
}

/** fd number → link target (`/dev/pts/3`, `/dev/ptmx`, `pipe:[…]`). */
export function fdsOf(pid: number): Map<number, string> {
  const fds = new Map<number, string>();
  for (const name of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      fds.set(Number(name), fs.readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return fds;
}
