/**
 * Spawning and ending PTY processes, and knowing when they are all gone (graceful shutdown
 * waits for that). The node-pty handle itself stays inside the pty actor.
 */
import * as nodePty from 'node-pty';

/** node-pty's `spawn` signature, so tests can wrap the real one. */
export type SpawnPty = typeof nodePty.spawn;
export type PtyHandle = nodePty.IPty;

export const defaultSpawnPty: SpawnPty = nodePty.spawn;

/**
 * SIGHUP to the PTY's process group (node-pty makes the child a session leader, so its pid is
 * the group id): a non-interactive `bash -c` does not pass a hang-up on to its children.
 */
export function signalPtyGroup(handle: PtyHandle, signal: 'SIGHUP' | 'SIGKILL'): void {
  try {
    if (handle.pid > 1) {
      process.kill(-handle.pid, signal);
      return;
    }
  } catch {
    // The group is gone or was never ours; fall back to the process itself.
  }
  try {
    handle.kill(signal);
  } catch {
    // Already exited.
  }
}

/** Tracks live PTY processes so shutdown can wait until each has exited. */
export interface PtyProcessTracker {
  /** Registers a process; call the returned function once it has exited. */
  track(): () => void;
  readonly liveCount: number;
  /** Resolves when every tracked process has exited, or after `timeoutMs`, whichever is first. */
  allExited(timeoutMs: number): Promise<void>;
}

export function createPtyProcessTracker(): PtyProcessTracker {
  let live = 0;
  let waiters: Array<() => void> = [];
  const settle = () => {
    if (live > 0) return;
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve();
  };
  return {
    track() {
      live++;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        live--;
        settle();
      };
    },
    get liveCount() {
      return live;
    },
    allExited(timeoutMs) {
      if (live === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
