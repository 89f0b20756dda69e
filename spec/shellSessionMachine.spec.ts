import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, fromCallback, SimulatedClock } from 'xstate';

import {
  RECONNECT_NOTICE,
  shellSessionMachine,
  type PtyCommand,
  type PtyReport,
  type ShellFrameEmitted,
  type ShellLaunch,
} from '../machines/shellSession.machine.js';

const TIMEOUT = 30 * 60 * 1000;
const launch: ShellLaunch = { command: 'true', cwd: '/', cols: 80, rows: 24, welcome: 'WELCOME\r\n' };

/** A session wired to a scripted pty actor; `report` plays the adapter, `commands` is what it was told. */
function startSession() {
  const commands: PtyCommand[] = [];
  let ptyStopped = false;
  let sendBack: ((event: PtyReport) => void) | null = null;
  const pty = fromCallback<PtyCommand, ShellLaunch>(({ sendBack: back, receive }) => {
    sendBack = back;
    receive((command) => commands.push(command));
    back({ type: 'pty.spawned', pid: 4242 });
    return () => {
      ptyStopped = true;
    };
  });
  const clock = new SimulatedClock();
  const actor = createActor(shellSessionMachine.provide({ actors: { pty } }), {
    clock,
    input: { key: 'k', ownerId: 'u1', launch, detachTimeoutMs: TIMEOUT },
  });
  const frames: ShellFrameEmitted[] = [];
  actor.on('shell.frame', (frame) => frames.push(frame));
  actor.start();
  const state = () => JSON.stringify(actor.getSnapshot().value);
  return {
    actor,
    clock,
    commands,
    frames,
    state,
    report: (event: PtyReport) => sendBack!(event),
    attach: (viewerId: string, size?: { cols: number; rows: number }) => actor.send({ type: 'viewer.attach', viewerId, ...size }),
    detach: (viewerId: string) => actor.send({ type: 'viewer.detach', viewerId }),
    framesFor: (viewerId: string) => frames.filter((f) => f.to.includes(viewerId)).map((f) => f.frame),
    get ptyStopped() {
      return ptyStopped;
    },
  };
}

test('the creator gets the welcome line; a later viewer gets the notice, then its restore, then live output', () => {
  const s = startSession();
  assert.is(s.state(), '{"active":{"live":"detached"}}', 'spawned with nobody attached yet');
  s.attach('v1');
  assert.is(s.state(), '{"active":{"live":"running"}}');
  assert.equal(s.framesFor('v1'), [{ type: 'output', data: 'WELCOME\r\n' }]);

  s.attach('v2');
  assert.equal(s.framesFor('v2'), [{ type: 'output', data: RECONNECT_NOTICE }]);
  assert.equal(s.commands.at(-1), { type: 'screen.snapshot', viewerId: 'v2', banner: RECONNECT_NOTICE });

  // Parsed before v2's snapshot: already in it, so only v1 gets it live.
  s.report({ type: 'pty.output', data: 'early', authUrls: [] });
  s.report({ type: 'screen.snapshotted', viewerId: 'v2', data: 'SCREEN' });
  s.report({ type: 'pty.output', data: 'late', authUrls: [] });
  assert.equal(s.framesFor('v2').map((f) => (f.type === 'output' ? f.data : f.url)), [RECONNECT_NOTICE, 'SCREEN', 'late']);
  assert.equal(s.framesFor('v1').map((f) => (f.type === 'output' ? f.data : f.url)), ['WELCOME\r\n', 'early', 'late']);
});

test('an attach with a new size resizes the PTY before the snapshot is taken', () => {
  const s = startSession();
  s.attach('v1');
  s.attach('v2', { cols: 100, rows: 30 });
  assert.equal(s.commands.slice(-2), [
    { type: 'pty.resize', cols: 100, rows: 30 },
    { type: 'screen.snapshot', viewerId: 'v2', banner: RECONNECT_NOTICE },
  ]);
  s.attach('v3', { cols: 100, rows: 30 });
  assert.is(s.commands.at(-1)!.type, 'screen.snapshot', 'same size: no resize');
});

test('a stale detach changes nothing; the timer starts only when the last viewer leaves', () => {
  const s = startSession();
  s.attach('v1');
  s.attach('v2');
  s.detach('v-gone');
  s.detach('v1');
  assert.is(s.state(), '{"active":{"live":"running"}}');
  s.clock.increment(TIMEOUT * 2);
  assert.is(s.actor.getSnapshot().status, 'active', 'no timer while v2 watches');
  s.detach('v1');
  s.detach('v2');
  assert.is(s.state(), '{"active":{"live":"detached"}}');
  s.clock.increment(TIMEOUT - 1);
  s.attach('v3');
  assert.is(s.state(), '{"active":{"live":"running"}}');
  s.detach('v3');
  s.clock.increment(TIMEOUT - 1);
  assert.is(s.state(), '{"active":{"live":"detached"}}', 'reattaching restarted the timer');
  s.clock.increment(1);
  assert.is(s.actor.getSnapshot().value, 'killed');
  assert.ok(s.ptyStopped, 'stopping the pty actor kills the process');
});

test('flow control: paused while any viewer or the mirror is congested, resumed when none is', () => {
  const s = startSession();
  s.attach('v1');
  s.attach('v2');
  const flow = () => s.commands.filter((c) => c.type === 'pty.pause' || c.type === 'pty.resume').map((c) => c.type);
  s.actor.send({ type: 'viewer.congested', viewerId: 'v1' });
  s.report({ type: 'screen.congested' });
  assert.equal(flow(), ['pty.pause']);
  s.actor.send({ type: 'viewer.drained', viewerId: 'v1' });
  assert.equal(flow(), ['pty.pause'], 'the mirror still holds it');
  s.report({ type: 'screen.drained' });
  assert.equal(flow(), ['pty.pause', 'pty.resume']);
  s.actor.send({ type: 'viewer.congested', viewerId: 'v2' });
  s.detach('v2');
  assert.equal(flow(), ['pty.pause', 'pty.resume', 'pty.pause', 'pty.resume'], 'a congested viewer that leaves releases the PTY');
  s.actor.send({ type: 'viewer.congested', viewerId: 'v-unknown' });
  assert.is(flow().length, 4, 'an unknown viewer cannot pause the PTY');
});

test('input and resize are written only for attached viewers', () => {
  const s = startSession();
  s.attach('v1');
  s.actor.send({ type: 'client.input', viewerId: 'v1', data: 'ls\r' });
  s.actor.send({ type: 'client.input', viewerId: 'stranger', data: 'rm\r' });
  s.actor.send({ type: 'client.resize', viewerId: 'v1', cols: 90, rows: 20 });
  assert.equal(s.commands, [
    { type: 'pty.write', viewerId: 'v1', data: 'ls\r' },
    { type: 'pty.resize', cols: 90, rows: 20 },
  ]);
});

test('exit with a viewer attached: the yellow line, then the session is collected', () => {
  const s = startSession();
  s.attach('v1');
  s.report({ type: 'pty.exited', exitCode: 3, signal: null });
  assert.equal(s.framesFor('v1').at(-1), { type: 'output', data: '\r\n\x1b[33mProcess exited with code 3\x1b[0m\r\n' });
  assert.is(s.actor.getSnapshot().value, 'collected');
});

test('exit while detached: kept until a viewer sees how it ended, or until the detach timeout', () => {
  const s = startSession();
  s.attach('v1');
  s.detach('v1');
  s.report({ type: 'pty.exited', exitCode: 0, signal: 15 });
  assert.is(s.state(), '{"active":"exited"}');
  s.attach('v2');
  assert.is(s.state(), '{"active":"exited"}', 'waiting for its restore');
  s.report({ type: 'screen.snapshotted', viewerId: 'v2', data: 'FINAL' });
  assert.equal(
    s.framesFor('v2').map((f) => (f.type === 'output' ? f.data : '')),
    [RECONNECT_NOTICE, 'FINAL', '\r\n\x1b[33mProcess exited with code 0 (15)\x1b[0m\r\n'],
  );
  assert.is(s.actor.getSnapshot().value, 'collected');

  const t = startSession();
  t.report({ type: 'pty.exited', exitCode: 1, signal: null });
  t.clock.increment(TIMEOUT);
  assert.is(t.actor.getSnapshot().value, 'collected');
});

test('auth URLs: sent before the output that completed them; found while detached, they wait for the next viewer', () => {
  const s = startSession();
  s.attach('v1');
  s.report({ type: 'pty.output', data: 'go to https://a.example/x', authUrls: [{ url: 'https://a.example/x', autoOpen: false }] });
  assert.equal(s.framesFor('v1').slice(1).map((f) => f.type), ['auth_url', 'output']);
  s.detach('v1');
  s.report({ type: 'pty.output', data: 'https://b.example/y', authUrls: [{ url: 'https://b.example/y', autoOpen: true }] });
  s.attach('v2');
  s.report({ type: 'screen.snapshotted', viewerId: 'v2', data: 'SCREEN' });
  assert.equal(s.framesFor('v2').slice(1), [
    { type: 'output', data: 'SCREEN' },
    { type: 'auth_url', url: 'https://b.example/y', autoOpen: true },
  ]);
  s.detach('v2');
  s.attach('v3');
  s.report({ type: 'screen.snapshotted', viewerId: 'v3', data: 'SCREEN' });
  assert.not.ok(s.framesFor('v3').some((f) => f.type === 'auth_url'), 'sent once');
});

test('a kill (restart, shutdown) ends the session and stops the pty actor', () => {
  const kills = [{ type: 'session.kill', reason: 'restart' }, { type: 'gateway.shutdown' }] as const;
  for (const kill of kills) {
    const s = startSession();
    s.attach('v1');
    s.actor.send(kill);
    assert.is(s.actor.getSnapshot().value, 'killed', kill.type);
    assert.ok(s.ptyStopped, kill.type);
  }
});

test('started without its pty actor, the machine fails at once and names the missing actor', () => {
  const actor = createActor(shellSessionMachine, { input: { key: 'k', ownerId: 'u1', launch, detachTimeoutMs: TIMEOUT } });
  let failure: unknown = null;
  actor.subscribe({ error: (error) => (failure = error) });
  actor.start();
  assert.is(actor.getSnapshot().status, 'error');
  assert.match(String(failure), 'shellSession.machine: the "pty" actor was not provided');
});

test('a failed spawn tells the creator and ends the session', () => {
  const clock = new SimulatedClock();
  const pty = fromCallback<PtyCommand, ShellLaunch>(({ sendBack }) => {
    queueMicrotask(() => sendBack({ type: 'pty.spawn-failed', message: 'no such file' }));
  });
  const actor = createActor(shellSessionMachine.provide({ actors: { pty } }), {
    clock,
    input: { key: 'k', ownerId: 'u1', launch, detachTimeoutMs: TIMEOUT },
  });
  const frames: ShellFrameEmitted[] = [];
  actor.on('shell.frame', (frame) => frames.push(frame));
  actor.start();
  actor.send({ type: 'viewer.attach', viewerId: 'v1' });
  return Promise.resolve().then(() => {
    assert.is(actor.getSnapshot().value, 'collected');
    const last = frames.at(-1)!.frame;
    assert.ok(last.type === 'output' && last.data.includes('Error: no such file'));
  });
});

test.run();
