/**
 * The `pty` actor of a shell session: the only holder of the node-pty handle and of the screen
 * mirror and auth-URL detector that watch it. Every chunk goes into the mirror first and is
 * reported to the session only once the mirror has parsed it (with the auth URLs it completed),
 * so output reports and screen snapshots leave in one order. A mirror that falls behind reports
 * itself congested; the session decides when to pause the PTY.
 */
import { fromCallback } from 'xstate';

import type { AuthUrlNotice, PtyCommand, PtyReport, ShellLaunch } from '../../machines/shellSession.machine.js';
import type { Logger } from '../logger.js';
import { createAuthUrlDetector, rewriteOpenUrl } from './authUrlDetector.js';
import { createPtyInput, type PtyInput } from './ptyInput.js';
import { ptyLaunch } from './ptyLaunch.js';
import { signalPtyGroup, type PtyHandle, type PtyProcessTracker, type SpawnPty } from './ptyProcesses.js';
import type { PtyReaper } from './ptyReaper.js';
import type { ScreenMirrorHost } from './screenMirrorHost.js';
import type { ShellUser } from './shellUser.js';

export interface PtyActorDeps {
  spawnPty: SpawnPty;
  /** The environment for a new PTY (already without denied variables). */
  environment(): Record<string, string>;
  tracker: PtyProcessTracker;
  /** Kills the PTYs' sessions if the gateway dies without closing them. */
  reaper: PtyReaper;
  /** The OS user PTYs run as, or null for the gateway's own. */
  user: ShellUser | null;
  logger: Logger;
  /** Where the screen mirrors parse (a worker thread by default). */
  mirrors: ScreenMirrorHost;
  scrollbackLines: number;
  restoreMaxCells: number;
  /** Unparsed mirror backlog (characters) above which the mirror reports congestion. */
  highWaterMark: number;
  lowWaterMark: number;
  authUrlWindowChars: number;
  killGraceMs: number;
  /** Input bytes a PTY may hold that its program has not read; more is dropped (`shellMaxPendingInputBytes`). */
  maxPendingInputBytes: number;
  /** The input queue of every live PTY (the route sums what waits). */
  inputs: Set<PtyInput>;
}

export function createPtyActor(deps: PtyActorDeps) {
  return fromCallback<PtyCommand, ShellLaunch>(({ input, sendBack, receive }) => {
    let stopped = false;
    /**
     * Output the mirror has parsed and that is not reported yet. The mirror answers for a whole
     * batch at once; its chunks go to the session as one `pty.output` (one transition and one frame
     * per viewer instead of one per PTY read: bench pty, long lines). Any other report first sends
     * what is held, so the session sees every report in the order the mirror answered.
     */
    let heldOutput: string[] = [];
    let heldAuthUrls: AuthUrlNotice[] = [];
    const sendHeldOutput = () => {
      if (heldOutput.length === 0) return;
      const data = heldOutput.length === 1 ? heldOutput[0] : heldOutput.join('');
      const authUrls = heldAuthUrls;
      heldOutput = [];
      heldAuthUrls = [];
      if (!stopped) sendBack({ type: 'pty.output', data, authUrls });
    };
    const holdOutput = (data: string, authUrls: AuthUrlNotice[]) => {
      if (heldOutput.length === 0) queueMicrotask(sendHeldOutput);
      heldOutput.push(data);
      if (authUrls.length > 0) heldAuthUrls = heldAuthUrls.concat(authUrls);
    };
    const report = (event: PtyReport) => {
      sendHeldOutput();
      if (!stopped) sendBack(event);
    };
    let exited = false;
    let backlog = 0;
    let mirrorCongested = false;
    const mirror = deps.mirrors.create({
      cols: input.cols,
      rows: input.rows,
      scrollback: deps.scrollbackLines,
      restoreMaxCells: deps.restoreMaxCells,
    });
    const detector = createAuthUrlDetector(deps.authUrlWindowChars);
    // The creator saw the welcome line first; the mirror must hold exactly what viewers saw.
    mirror.write(input.welcome);

    let handle: PtyHandle;
    // Before the first PTY exists, so the watchdog starts holding no PTY's master.
    deps.reaper.start();
    const launch = ptyLaunch(input.command, deps.user);
    try {
      handle = deps.spawnPty(launch.file, launch.args, {
        name: 'xterm-256color',
        cols: input.cols,
        rows: input.rows,
        cwd: input.cwd,
        env: deps.environment(),
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      deps.logger.warn('shell: spawning the PTY failed', { cwd: input.cwd, error: message });
      // Reported a tick later, once the creating viewer is attached and can be told.
      queueMicrotask(() => report({ type: 'pty.spawn-failed', message }));
      return () => {
        stopped = true;
        mirror.dispose();
      };
    }
    const untrack = deps.tracker.track();
    const pid = handle.pid;
    deps.reaper.watch(pid);
    report({ type: 'pty.spawned', pid });
    const inputQueue = createPtyInput(handle, deps.maxPendingInputBytes, (error) =>
      deps.logger.debug('shell: writing to the PTY failed', { error: error.message }),
    );
    deps.inputs.add(inputQueue);
    const endInput = () => {
      inputQueue.dispose();
      deps.inputs.delete(inputQueue);
    };
    /** Viewers told their input was dropped, until input is taken again (one notice per overflow, not per frame). */
    const toldDropped = new Set<string>();

    handle.onData((chunk) => {
      if (stopped) return;
      const shown = rewriteOpenUrl(chunk);
      backlog += chunk.length;
      mirror.write(shown, () => {
        backlog -= chunk.length;
        holdOutput(shown, detector.feed(chunk));
        if (mirrorCongested && backlog <= deps.lowWaterMark) {
          mirrorCongested = false;
          report({ type: 'screen.drained' });
        }
      });
      if (!mirrorCongested && backlog > deps.highWaterMark) {
        mirrorCongested = true;
        report({ type: 'screen.congested' });
      }
    });

    handle.onExit(({ exitCode, signal }) => {
      exited = true;
      untrack();
      endInput();
      deps.reaper.forget(pid);
      // After the last chunk is parsed, so the exit line follows all output.
      mirror.whenParsed(() => report({ type: 'pty.exited', exitCode, signal: signal ? signal : null }));
    });

    receive((command) => {
      if (stopped) return;
      switch (command.type) {
        case 'pty.write':
          if (exited) return;
          if (inputQueue.write(command.data)) toldDropped.clear();
          else if (!toldDropped.has(command.viewerId)) {
            toldDropped.add(command.viewerId);
            report({ type: 'pty.input-dropped', viewerId: command.viewerId });
          }
          return;
        case 'pty.resize':
          if (!exited) {
            try {
              handle.resize(command.cols, command.rows);
            } catch (error) {
              deps.logger.debug('shell: resize failed', { error: error instanceof Error ? error.message : String(error) });
            }
          }
          mirror.resize(command.cols, command.rows);
          return;
        case 'pty.pause':
          if (!exited) handle.pause();
          return;
        case 'pty.resume':
          if (!exited) handle.resume();
          return;
        case 'screen.snapshot': {
          const { viewerId, banner } = command;
          mirror.snapshot(banner, (data) => {
            if (!stopped) report({ type: 'screen.snapshotted', viewerId, data });
          });
          return;
        }
      }
    });

    return () => {
      stopped = true;
      mirror.dispose();
      endInput();
      if (exited) return;
      signalPtyGroup(handle, 'SIGHUP');
      const force = setTimeout(() => {
        if (!exited) signalPtyGroup(handle, 'SIGKILL');
      }, deps.killGraceMs);
      force.unref();
    };
  });
}
