import { assertEvent, assign, enqueueActions, sendTo, setup, type CallbackActorLogic } from 'xstate';

import { notProvided } from './notProvided.js';

/**
 * One persistent PTY at one session key (`/shell`). The machine owns who is watching (opaque
 * viewer ids, never sockets), the detach timer, flow control and the exit status; the `pty`
 * actor (supplied by the gateway) owns the process and the headless terminal that mirrors its
 * screen. Frames leave through one port: the emitted `shell.frame` event, in order.
 *
 * Output reaches the machine only after the mirror has parsed it, and a screen snapshot is
 * taken in that same parse order, so a viewer whose restore is pending gets exactly the output
 * that its snapshot does not already contain: nothing lost or doubled at the seam.
 */

// ---- protocol text ----
const CYAN = '\x1b[36m';
const RED = '\x1b[31m';
const YELLOW = '\x1b[33m';
const RESET = '\x1b[0m';
export const RECONNECT_NOTICE = `${CYAN}[Reconnected to existing session]${RESET}\r\n`;
export const exitLine = (exitCode: number, signal: number | null): string =>
  `\r\n${YELLOW}Process exited with code ${exitCode}${signal ? ` (${signal})` : ''}${RESET}\r\n`;
export const errorLine = (message: string): string => `\r\n${RED}Error: ${message}${RESET}\r\n`;
/** Input refused because the program has not read what already waits (`shellMaxPendingInputBytes`). */
export const INPUT_DROPPED_LINE = errorLine('Input dropped: the program is not reading its input');

/** URLs found while nobody watched wait for the next viewer; only the newest few matter. */
export const MAX_UNDELIVERED_AUTH_URLS = 8;

// ---- types ----
export interface AuthUrlNotice {
  url: string;
  autoOpen: boolean;
}

export type ShellServerFrame =
  | { type: 'output'; data: string }
  | { type: 'auth_url'; url: string; autoOpen: boolean };

/** What the PTY is started with. The environment is not here: the adapter builds it at spawn time. */
export interface ShellLaunch {
  command: string;
  cwd: string;
  cols: number;
  rows: number;
  /** The cyan first line, shown to the creating viewer and written into the screen mirror. */
  welcome: string;
}

export interface ShellSessionInput {
  key: string;
  ownerId: string;
  launch: ShellLaunch;
  detachTimeoutMs: number;
}

/** Commands to the `pty` actor (verbs). */
export type PtyCommand =
  | { type: 'pty.write'; viewerId: string; data: string }
  | { type: 'pty.resize'; cols: number; rows: number }
  | { type: 'pty.pause' }
  | { type: 'pty.resume' }
  | { type: 'screen.snapshot'; viewerId: string; banner: string };

/** Facts the `pty` actor reports (past tense). */
export type PtyReport =
  | { type: 'pty.spawned'; pid: number }
  | { type: 'pty.spawn-failed'; message: string }
  | { type: 'pty.output'; data: string; authUrls: AuthUrlNotice[] }
  | { type: 'pty.exited'; exitCode: number; signal: number | null }
  /** A viewer's input was dropped (too much unread input waits); reported once per overflow per viewer. */
  | { type: 'pty.input-dropped'; viewerId: string }
  | { type: 'screen.snapshotted'; viewerId: string; data: string }
  | { type: 'screen.congested' }
  | { type: 'screen.drained' };

/** Events from the socket adapter. `client.*` carries (validated) socket input. */
export type ShellViewerEvent =
  | { type: 'viewer.attach'; viewerId: string; cols?: number; rows?: number }
  | { type: 'viewer.detach'; viewerId: string }
  | { type: 'viewer.congested'; viewerId: string }
  | { type: 'viewer.drained'; viewerId: string }
  | { type: 'client.input'; viewerId: string; data: string }
  | { type: 'client.resize'; viewerId: string; cols: number; rows: number };

/**
 * The gateway ending a session: `session.kill` when the route replaces it (`restart`) or frees
 * an exited one (`collect`); `gateway.shutdown`, the event every machine gets when the gateway
 * closes. Either way the PTY is killed (the `pty` actor stops).
 */
export type ShellControlEvent =
  | { type: 'session.kill'; reason: 'restart' | 'collect' }
  | { type: 'gateway.shutdown' };

export type ShellSessionEvent = ShellViewerEvent | ShellControlEvent | PtyReport;

export interface ShellFrameEmitted {
  type: 'shell.frame';
  /** Viewer ids, in no particular order; the frame is the same for all of them. */
  to: string[];
  frame: ShellServerFrame;
}

/** `restoring`: attached, its screen snapshot is on the way, live output is not sent to it yet. */
export type ViewerStatus = 'restoring' | 'live';

export interface ShellSessionContext {
  key: string;
  ownerId: string;
  launch: ShellLaunch;
  detachTimeoutMs: number;
  cols: number;
  rows: number;
  pid: number | null;
  viewers: Record<string, ViewerStatus>;
  /** The creating viewer got the welcome line; every later one gets a restore. */
  greeted: boolean;
  /** What holds the PTY paused: `screen` (mirror backlog) and congested viewer ids. */
  congested: string[];
  paused: boolean;
  undeliveredAuthUrls: AuthUrlNotice[];
  exit: { exitCode: number; signal: number | null } | null;
  /** Some viewer has been shown the exit line: the entry can be collected. */
  exitSeen: boolean;
}

const SCREEN = 'screen';

const viewersWith = (context: ShellSessionContext, status: ViewerStatus): string[] =>
  Object.keys(context.viewers).filter((id) => context.viewers[id] === status);

const withoutKey = <T>(record: Record<string, T>, key: string): Record<string, T> => {
  const copy = { ...record };
  delete copy[key];
  return copy;
};

export const shellSessionMachine = setup({
  types: {
    context: {} as ShellSessionContext,
    input: {} as ShellSessionInput,
    events: {} as ShellSessionEvent,
    emitted: {} as ShellFrameEmitted,
  },
  // The gateway provides the real one; a machine started without it fails loudly.
  actors: { pty: notProvided<CallbackActorLogic<PtyCommand, ShellLaunch>>('shellSession.machine', 'pty') },
  delays: {
    detachTimeout: ({ context }) => context.detachTimeoutMs,
  },
  guards: {
    hasViewers: ({ context }) => Object.keys(context.viewers).length > 0,
    isViewer: ({ context, event }) => {
      assertEvent(event, ['client.input', 'client.resize', 'viewer.congested']);
      return event.viewerId in context.viewers;
    },
    isLastViewer: ({ context, event }) => {
      assertEvent(event, 'viewer.detach');
      const ids = Object.keys(context.viewers);
      return ids.length === 1 && ids[0] === event.viewerId;
    },
    exitShownAndNoRestorePending: ({ context }) =>
      context.exitSeen && viewersWith(context, 'restoring').length === 0,
  },
  actions: {
    recordPid: assign(({ event }) => {
      assertEvent(event, 'pty.spawned');
      return { pid: event.pid };
    }),

    attachViewer: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'viewer.attach');
      if (event.viewerId in context.viewers) return;
      const { viewerId } = event;
      if (!context.greeted) {
        // The creator: nothing has been parsed yet, so the welcome line is the whole screen.
        enqueue.assign({ greeted: true, viewers: { ...context.viewers, [viewerId]: 'live' as ViewerStatus } });
        enqueue.emit({ type: 'shell.frame', to: [viewerId], frame: { type: 'output', data: context.launch.welcome } });
        return;
      }
      enqueue.assign({ viewers: { ...context.viewers, [viewerId]: 'restoring' as ViewerStatus } });
      enqueue.emit({ type: 'shell.frame', to: [viewerId], frame: { type: 'output', data: RECONNECT_NOTICE } });
      const resized =
        context.exit === null &&
        event.cols !== undefined &&
        event.rows !== undefined &&
        (event.cols !== context.cols || event.rows !== context.rows);
      if (resized) {
        // The newest viewer's size wins, and its snapshot is taken at that size.
        enqueue.assign({ cols: event.cols!, rows: event.rows! });
        enqueue.sendTo('pty', { type: 'pty.resize', cols: event.cols!, rows: event.rows! });
      }
      enqueue.sendTo('pty', { type: 'screen.snapshot', viewerId, banner: RECONNECT_NOTICE });
    }),

    finishRestore: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'screen.snapshotted');
      if (context.viewers[event.viewerId] !== 'restoring') return;
      const to = [event.viewerId];
      enqueue.assign({ viewers: { ...context.viewers, [event.viewerId]: 'live' as ViewerStatus } });
      enqueue.emit({ type: 'shell.frame', to, frame: { type: 'output', data: event.data } });
      for (const notice of context.undeliveredAuthUrls) {
        enqueue.emit({ type: 'shell.frame', to, frame: { type: 'auth_url', ...notice } });
      }
      if (context.undeliveredAuthUrls.length > 0) enqueue.assign({ undeliveredAuthUrls: [] });
      if (context.exit) {
        enqueue.emit({
          type: 'shell.frame',
          to,
          frame: { type: 'output', data: exitLine(context.exit.exitCode, context.exit.signal) },
        });
        enqueue.assign({ exitSeen: true });
      }
    }),

    deliverOutput: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'pty.output');
      // Auth URLs go to restoring viewers too: their snapshot shows the URL but not the frame.
      const everyone = Object.keys(context.viewers);
      if (event.authUrls.length > 0) {
        if (everyone.length === 0) {
          enqueue.assign({
            undeliveredAuthUrls: [...context.undeliveredAuthUrls, ...event.authUrls].slice(-MAX_UNDELIVERED_AUTH_URLS),
          });
        } else {
          for (const notice of event.authUrls) {
            enqueue.emit({ type: 'shell.frame', to: everyone, frame: { type: 'auth_url', ...notice } });
          }
        }
      }
      const live = viewersWith(context, 'live');
      if (live.length > 0) enqueue.emit({ type: 'shell.frame', to: live, frame: { type: 'output', data: event.data } });
    }),

    detachViewer: assign(({ context, event }) => {
      assertEvent(event, 'viewer.detach');
      return {
        viewers: withoutKey(context.viewers, event.viewerId),
        congested: context.congested.filter((id) => id !== event.viewerId),
      };
    }),

    writeInput: sendTo('pty', ({ event }) => {
      assertEvent(event, 'client.input');
      return { type: 'pty.write', viewerId: event.viewerId, data: event.data } satisfies PtyCommand;
    }),

    reportInputDropped: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'pty.input-dropped');
      if (!(event.viewerId in context.viewers)) return;
      enqueue.emit({ type: 'shell.frame', to: [event.viewerId], frame: { type: 'output', data: INPUT_DROPPED_LINE } });
    }),

    resizePty: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'client.resize');
      if (event.cols === context.cols && event.rows === context.rows) return;
      enqueue.assign({ cols: event.cols, rows: event.rows });
      enqueue.sendTo('pty', { type: 'pty.resize', cols: event.cols, rows: event.rows });
    }),

    markCongested: assign(({ context, event }) => {
      assertEvent(event, ['screen.congested', 'viewer.congested']);
      const source = event.type === 'screen.congested' ? SCREEN : event.viewerId;
      if (context.congested.includes(source)) return {};
      return { congested: [...context.congested, source] };
    }),

    markDrained: assign(({ context, event }) => {
      assertEvent(event, ['screen.drained', 'viewer.drained']);
      const source = event.type === 'screen.drained' ? SCREEN : event.viewerId;
      return { congested: context.congested.filter((id) => id !== source) };
    }),

    /** Paused while anything is congested, resumed once nothing is. */
    syncFlow: enqueueActions(({ context, enqueue }) => {
      const shouldPause = context.congested.length > 0;
      if (shouldPause === context.paused) return;
      enqueue.assign({ paused: shouldPause });
      enqueue.sendTo('pty', { type: shouldPause ? 'pty.pause' : 'pty.resume' });
    }),

    recordExit: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'pty.exited');
      const live = viewersWith(context, 'live');
      enqueue.assign({
        exit: { exitCode: event.exitCode, signal: event.signal },
        exitSeen: live.length > 0,
        congested: [],
        paused: false,
      });
      if (live.length > 0) {
        enqueue.emit({ type: 'shell.frame', to: live, frame: { type: 'output', data: exitLine(event.exitCode, event.signal) } });
      }
    }),

    reportSpawnFailure: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'pty.spawn-failed');
      const to = Object.keys(context.viewers);
      if (to.length > 0) enqueue.emit({ type: 'shell.frame', to, frame: { type: 'output', data: errorLine(event.message) } });
    }),
  },
}).createMachine({
  id: 'shellSession',
  context: ({ input }) => ({
    key: input.key,
    ownerId: input.ownerId,
    launch: input.launch,
    detachTimeoutMs: input.detachTimeoutMs,
    cols: input.launch.cols,
    rows: input.launch.rows,
    pid: null,
    viewers: {},
    greeted: false,
    congested: [],
    paused: false,
    undeliveredAuthUrls: [],
    exit: null,
    exitSeen: false,
  }),
  initial: 'active',
  states: {
    active: {
      // Spans `exited` too: the mirror outlives the process so a late viewer still sees the end.
      invoke: { id: 'pty', src: 'pty', input: ({ context }) => context.launch },
      initial: 'live',
      on: {
        'session.kill': '#shellSession.killed',
        'gateway.shutdown': '#shellSession.killed',
        'screen.snapshotted': { actions: 'finishRestore' },
      },
      states: {
        live: {
          initial: 'spawning',
          on: {
            'pty.output': { actions: 'deliverOutput' },
            'pty.exited': { target: 'exited', actions: 'recordExit' },
            'client.input': { guard: 'isViewer', actions: 'writeInput' },
            'pty.input-dropped': { actions: 'reportInputDropped' },
            'client.resize': { guard: 'isViewer', actions: 'resizePty' },
            'viewer.congested': { guard: 'isViewer', actions: ['markCongested', 'syncFlow'] },
            'viewer.drained': { actions: ['markDrained', 'syncFlow'] },
            'screen.congested': { actions: ['markCongested', 'syncFlow'] },
            'screen.drained': { actions: ['markDrained', 'syncFlow'] },
          },
          states: {
            spawning: {
              on: {
                'pty.spawned': [
                  { guard: 'hasViewers', target: 'running', actions: 'recordPid' },
                  { target: 'detached', actions: 'recordPid' },
                ],
                'pty.spawn-failed': { target: '#shellSession.collected', actions: 'reportSpawnFailure' },
                'viewer.attach': { actions: 'attachViewer' },
                'viewer.detach': { actions: ['detachViewer', 'syncFlow'] },
              },
            },
            running: {
              on: {
                'viewer.attach': { actions: 'attachViewer' },
                // A stale socket's late close names a viewer that is no longer attached:
                // it is not the last viewer, and removing it removes nothing.
                'viewer.detach': [
                  { guard: 'isLastViewer', target: 'detached', actions: ['detachViewer', 'syncFlow'] },
                  { actions: ['detachViewer', 'syncFlow'] },
                ],
              },
            },
            detached: {
              // The only place the detach timer runs: it starts when the last viewer leaves.
              after: { detachTimeout: '#shellSession.killed' },
              on: {
                'viewer.attach': { target: 'running', actions: 'attachViewer' },
              },
            },
          },
        },
        exited: {
          always: { guard: 'exitShownAndNoRestorePending', target: '#shellSession.collected' },
          after: { detachTimeout: '#shellSession.collected' },
          on: {
            'viewer.attach': { actions: 'attachViewer' },
            'viewer.detach': { actions: 'detachViewer' },
          },
        },
      },
    },
    killed: { type: 'final' },
    collected: { type: 'final' },
  },
});
