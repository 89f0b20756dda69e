/**
 * What a spec or benchmark process must not leave behind when it ends before its own teardown (a
 * failed assertion, an interrupt): every child registered here is SIGKILLed and every directory
 * removed when the process exits. One `exit` hook for every helper that starts something.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const child of children) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** SIGKILLs `child` at exit if it is still running then. */
export function killOnExit(child: ChildProcess): void {
  install();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Removes `dir` (recursively) at exit; the returned function forgets it (it was removed already). */
export function removeOnExit(dir: string): () => void {
  install();
  dirs.add(dir);
  return () => dirs.delete(dir);
}
