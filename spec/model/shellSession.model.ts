/**
 * The shell session under model-based test, with a fake `pty` actor that keeps the commands it
 * gets; the path plays the PTY's reports itself. Invariants: a PTY that has viewers is never
 * killed by a timer; paused exactly while something is congested (until it exits), and pause /
 * resume commands alternate; output only goes to viewers that are live (restored), never to one
 * still waiting for its screen; each viewer is greeted once (welcome, or reconnect notice and
 * restore) and shown the exit line at most once.
 */
import { createActor, fromCallback, SimulatedClock, type AnyEventObject } from 'xstate';

import {
  shellSessionMachine,
  type PtyCommand,
  type ShellFrameEmitted,
  type ShellSessionContext,
  type ShellSessionInput,
  type ShellLaunch,
} from '../../machines/shellSession.machine.js';
import { afterDelay, invariant, type MachineModel, type PathStep, type Snapshot } from './pathCoverage.js';

const input: ShellSessionInput = {
  key: 'key-1',
  ownerId: 'u1',
  launch: { command: 'bash', cwd: '/tmp', cols: 80, rows: 24, welcome: 'welcome\r\n' },
  detachTimeoutMs: 1000,
};

const traversal = shellSessionMachine.provide({ actors: { pty: fromCallback<PtyCommand, ShellLaunch>(() => () => {}) } });

const afterEvents = new Map<string, string>();
for (const id of ['shellSession.active.live.detached', 'shellSession.active.exited']) {
  afterEvents.set(id, shellSessionMachine.getStateNodeById(id).after[0].eventType);
}
const DETACHED_TIMEOUT = afterEvents.get('shellSession.active.live.detached')!;
const EXITED_TIMEOUT = afterEvents.get('shellSession.active.exited')!;
const TIMER_EVENTS = new Set([DETACHED_TIMEOUT, EXITED_TIMEOUT]);

const context = (snapshot: Snapshot) => snapshot.context as ShellSessionContext;
const VIEWERS = ['A', 'B'];

export const shellSessionModel: MachineModel = {
  name: 'shellSession',
  machine: shellSessionMachine,
  traversal,
  configurations: [{ label: 'default', input }],

  serializeState(snapshot) {
    const c = context(snapshot);
    return JSON.stringify([
      snapshot.value,
      VIEWERS.map((id) => c.viewers[id] ?? '-'),
      c.greeted,
      [...c.congested].sort(),
      c.paused,
      c.exit !== null,
      c.exitSeen,
      c.undeliveredAuthUrls.length > 0,
    ]);
  },

  events(snapshot) {
    if (snapshot.status !== 'active') return [];
    const c = context(snapshot);
    const events: AnyEventObject[] = [{ type: 'session.kill', reason: 'restart' }, { type: 'gateway.shutdown' }];
    if (snapshot.matches({ active: { live: 'spawning' } })) {
      events.push({ type: 'pty.spawned', pid: 42 });
      events.push({ type: 'pty.spawn-failed', message: 'no such file' });
    }
    // The adapter reports the spawn, and the gateway attaches the creating viewer, in the same
    // tick as the spawn: the PTY cannot print or exit before both.
    if (!snapshot.matches({ active: { live: 'spawning' } }) && c.greeted) {
      events.push({ type: 'pty.output', data: 'text\r\n', authUrls: [] });
      events.push({ type: 'pty.output', data: 'https://login.example/x\r\n', authUrls: [{ url: 'https://login.example/x', autoOpen: false }] });
      events.push({ type: 'pty.exited', exitCode: 0, signal: null });
      events.push({ type: 'screen.congested' });
      events.push({ type: 'screen.drained' });
    }
    for (const viewerId of VIEWERS) {
      events.push({ type: 'viewer.attach', viewerId, ...(viewerId === 'B' ? { cols: 100, rows: 30 } : {}) });
      events.push({ type: 'viewer.detach', viewerId });
      if (viewerId === 'A') {
        events.push({ type: 'viewer.congested', viewerId });
        events.push({ type: 'viewer.drained', viewerId });
        events.push({ type: 'client.input', viewerId, data: 'ls\r' });
        // The PTY refuses input past shellMaxPendingInputBytes and says whose it was.
        if (!snapshot.matches({ active: { live: 'spawning' } })) events.push({ type: 'pty.input-dropped', viewerId });
        events.push({ type: 'client.resize', viewerId, cols: c.cols === 120 ? 80 : 120, rows: 40 });
      }
      // The screen answers a snapshot request it was sent: only for a viewer being restored.
      if (c.viewers[viewerId] === 'restoring') events.push({ type: 'screen.snapshotted', viewerId, data: `screen for ${viewerId}` });
    }
    for (const [id, type] of afterEvents) if (snapshot.matches(stateValueOf(id))) events.push({ type });
    return events;
  },

  async execute(steps: PathStep[], _configuration, inspect) {
    const clock = new SimulatedClock();
    const commands: PtyCommand[] = [];
    const pty = fromCallback<PtyCommand, ShellLaunch>(({ receive }) => {
      receive((command) => void commands.push(command));
      return () => {};
    });
    const session = createActor(shellSessionMachine.provide({ actors: { pty } }), { input, clock, inspect });
    const frames: ShellFrameEmitted[] = [];
    session.on('shell.frame', (event) => void frames.push(event as ShellFrameEmitted));
    session.start();
    const greeted = new Map<string, number>();
    const exitLines = new Map<string, number>();

    for (const step of steps) {
      const before = session.getSnapshot() as Snapshot;
      const beforeContext = context(before);
      const { event } = step;
      if (TIMER_EVENTS.has(event.type)) clock.increment(afterDelay(shellSessionMachine, event.type, beforeContext as never));
      else session.send(event as never);

      const live = session.getSnapshot() as Snapshot;
      invariant(JSON.stringify(live.value) === JSON.stringify(step.state.value), `live state ${JSON.stringify(live.value)}, model says ${JSON.stringify(step.state.value)}`);
      if (TIMER_EVENTS.has(event.type) && live.matches('killed')) {
        invariant(Object.keys(beforeContext.viewers).length === 0, 'a PTY with viewers is never killed by a timer');
      }
      if (TIMER_EVENTS.has(event.type) && live.matches('collected')) {
        // A viewer still waiting for its screen after the whole timeout has a stuck mirror: excused.
        for (const [viewerId, status] of Object.entries(beforeContext.viewers)) {
          if (status === 'live') invariant(exitLines.get(viewerId) === 1, `an exited PTY is collected while ${viewerId} has not seen its end`);
        }
      }
      for (const frame of frames.splice(0)) {
        for (const viewerId of frame.to) {
          const data = frame.frame.type === 'output' ? frame.frame.data : '';
          const isGreeting = data === input.launch.welcome || data.includes('[Reconnected to existing session]');
          if (isGreeting) greeted.set(viewerId, (greeted.get(viewerId) ?? 0) + 1);
          if (data.includes('Process exited with code')) exitLines.set(viewerId, (exitLines.get(viewerId) ?? 0) + 1);
          if (event.type === 'pty.input-dropped') {
            invariant(viewerId === event.viewerId && viewerId in beforeContext.viewers, `the input notice reached ${viewerId}, not only its typist`);
          }
          if (frame.frame.type === 'output' && event.type === 'pty.output') {
            invariant(beforeContext.viewers[viewerId] === 'live', `live output reached ${viewerId}, which was ${beforeContext.viewers[viewerId]}`);
          }
        }
      }
      for (const [viewerId, count] of greeted) invariant(count <= 1 || event.type === 'viewer.attach', `${viewerId} greeted ${count} times without reattaching`);
      if (event.type === 'viewer.detach') greeted.delete(String(event.viewerId));
      for (const [viewerId, count] of exitLines) invariant(count <= 1, `${viewerId} was shown the exit line ${count} times`);
      if (event.type === 'viewer.detach') exitLines.delete(String(event.viewerId));
      if (live.status !== 'active') continue;
      const c = context(live);
      if (c.exit === null) invariant(c.paused === c.congested.length > 0, `paused ${c.paused} with congested ${JSON.stringify(c.congested)}`);
      const flow = commands.filter((command) => command.type === 'pty.pause' || command.type === 'pty.resume').map((command) => command.type);
      flow.forEach((type, index) => invariant(type === (index % 2 === 0 ? 'pty.pause' : 'pty.resume'), `pause/resume out of turn: ${flow.join(', ')}`));
    }
    session.stop();
  },
};

/** `a.b.c` (after the machine id) as a state value to match. */
function stateValueOf(stateId: string): Record<string, unknown> | string {
  const parts = stateId.split('.').slice(1);
  let value: Record<string, unknown> | string = parts.pop()!;
  while (parts.length > 0) value = { [parts.pop()!]: value };
  return value;
}
