/**
 * The chat session under model-based test. Its runs are stand-ins (a child that ends when the
 * test says so); what a real run would tell the session (`run.message`, `run.ended`) the path
 * sends itself. Invariants: seq is assigned strictly +1 with no gap or repeat; `running` exactly
 * when there is a current run, `locked` exactly when a failed abort holds the lock; subscribers
 * are unique; every live run has a live child; the session closes only when no run lives, and
 * while watched only if nothing was ever sequenced, handing its watchers back as output; an ack
 * reports the session's own seq.
 */
import { createActor, createMachine, SimulatedClock, type AnyEventObject } from 'xstate';

import type { ChatSessionContext, ChatSessionEmitted, ChatSessionInput } from '../../machines/chatSession.machine.js';
import { chatSessionMachine } from '../../machines/chatSession.machine.js';
import { afterDelay, invariant, liveEvent, templated as t, type MachineModel, type PathStep, type Snapshot } from './pathCoverage.js';

const input: ChatSessionInput = {
  sessionId: 'session-1',
  latestSeq: 7,
  limits: { sessionIdleTtlMs: 1000, lockedSessionTimeoutMs: 5000, abortTimeoutMs: 500, shutdownAbortGraceMs: 2000, clientMessageIdWindowMs: 600_000 },
};

/** Stands in for a run: lives until the test finishes it (or makes it fail). */
const stubRun = createMachine({
  id: 'stubRun',
  initial: 'live',
  states: {
    live: {
      on: {
        'test.finish': 'finished',
        'test.crash': {
          actions: () => {
            throw new Error('run actor failed');
          },
        },
      },
    },
    finished: { type: 'final' },
  },
});

const traversal = chatSessionMachine.provide({ actors: { chatRun: stubRun as never } });

const afterEvent = (stateId: string) => chatSessionMachine.getStateNodeById(stateId).after[0].eventType;
const IDLE_TTL = afterEvent('chatSession.idle');
const LOCKED_TIMEOUT = afterEvent('chatSession.locked');
const SHUTDOWN_GRACE = afterEvent('chatSession.stopping');
const REMOTE_TTL = afterEvent('chatSession.remote');

let runSerial = 0;
const context = (snapshot: Snapshot) => snapshot.context as ChatSessionContext;

export const chatSessionModel: MachineModel = {
  name: 'chatSession',
  machine: chatSessionMachine,
  traversal,
  // A session with history, and one where nothing was ever sequenced (a made-up or brand-new id).
  configurations: [
    { label: 'default', input },
    { label: 'empty log', input: { ...input, latestSeq: 0 } },
  ],

  serializeState(snapshot) {
    const c = context(snapshot);
    return JSON.stringify([
      snapshot.value,
      c.subscribers.length,
      c.currentRun ? 1 : 0,
      c.lockedBy ? 1 : 0,
      Math.min(c.liveRuns.length, 2),
      c.pendingPermissions.length > 0,
      c.seq === 0,
      c.recentSends.length,
      c.lostRuns.length > 0,
    ]);
  },

  events(snapshot) {
    if (snapshot.status !== 'active') return [];
    const c = context(snapshot);
    const events: AnyEventObject[] = [];
    for (const subscriberId of ['A', 'B']) {
      events.push({ type: 'client.subscribe', subscriberId, lastSeq: subscriberId === 'A' ? 0 : 3, oldestSeq: 2 });
      events.push({ type: 'client.unsubscribe', subscriberId });
    }
    events.push({ type: 'client.dropped', subscriberId: 'A' });
    const runId = `r${++runSerial}`;
    const request = { provider: 'p', content: 'x', options: {}, projectPath: null, userId: null, startedAt: 1, sessionFound: true, providerAvailable: true };
    // 'attached' carries a clientMessageId: once remembered, sending it again is a repeat, not a run.
    events.push(t('attached', { type: 'client.send', subscriberId: 'A', runId, ...request, providerSessionId: null, clientMessageId: 'm1' }));
    events.push(t('detached', { type: 'client.send', subscriberId: null, runId: `${runId}n`, ...request, providerSessionId: 'native-0' }));
    events.push(t('no session', { type: 'client.send', subscriberId: 'B', runId: `${runId}x`, ...request, providerSessionId: null, sessionFound: false, providerAvailable: false }));
    events.push(t('no runtime', { type: 'client.send', subscriberId: 'B', runId: `${runId}y`, ...request, providerSessionId: null, providerAvailable: false }));
    events.push(t('interrupted', { type: 'run.interrupted', runId: `${runId}i`, provider: 'p' }));
    if (c.recentSends.length > 0) events.push({ type: 'send.expired', clientMessageId: 'm1' });
    events.push({ type: 'session.deleted' });
    events.push({ type: 'client.abort', subscriberId: 'A' });
    events.push({ type: 'gateway.shutdown' });
    const pending = c.pendingPermissions[0];
    events.push(t('A pending', { type: 'client.permission-response', subscriberId: 'A', requestId: pending?.requestId ?? 'unknown', decision: { allow: true } }));
    events.push({ type: 'client.permission-response', subscriberId: 'B', requestId: 'unknown', decision: { allow: false } });
    const messageRun = c.currentRun?.runId ?? c.liveRuns[0];
    if (messageRun) {
      events.push(t('text', { type: 'run.message', runId: messageRun, message: { kind: 'text', content: 'hi' } }));
      events.push(t('request', { type: 'run.message', runId: messageRun, message: { kind: 'permission_request', requestId: 'q1', toolName: 'Bash', input: {} } }));
      // A runtime's chunk in one go: each message gets its own seq, in order.
      events.push(t('batch', { type: 'run.messages', runId: messageRun, messages: [{ kind: 'text', content: 'a' }, { kind: 'permission_request', requestId: 'q2', toolName: 'Read', input: {} }, { kind: 'text', content: 'b' }] }));
      if (pending) events.push(t('cancel', { type: 'run.message', runId: messageRun, message: { kind: 'permission_cancelled', requestId: pending.requestId } }));
      events.push(t('new id', { type: 'run.session-id', runId: messageRun, providerSessionId: c.providerSessionId === 'native-1' ? 'native-2' : 'native-1' }));
      events.push(t('same id', { type: 'run.session-id', runId: messageRun, providerSessionId: c.providerSessionId ?? '' }));
    }
    if (c.currentRun) {
      events.push(t('current', { type: 'run.ended', runId: c.currentRun.runId, locksSession: false }));
      events.push(t('current locks', { type: 'run.ended', runId: c.currentRun.runId, locksSession: true }));
    }
    const stale = c.liveRuns.find((id) => id !== c.currentRun?.runId);
    if (stale) events.push(t('stale', { type: 'run.ended', runId: stale, locksSession: false }));
    // A run actor that fails (a bug) may be any live run.
    c.liveRuns.forEach((id, index) =>
      events.push(t(`run crash ${id === c.currentRun?.runId ? 'current' : index}`, { type: `xstate.error.actor.run:${id}`, actorId: `run:${id}`, error: new Error('run actor failed') })),
    );
    // A run actor ends only after it told its session run.ended: never while it is the current run.
    c.liveRuns
      .filter((id) => id !== c.currentRun?.runId)
      .forEach((id, index) => events.push(t(`run done ${id === c.lockedBy ? 'locking' : index}`, { type: `xstate.done.actor.run:${id}`, actorId: `run:${id}`, output: undefined })));
    // [cluster] Another node's run: its frames (opening, going on, ending, one read twice), its
    // record, requests of other nodes, a lost lease, a send the lease refuses, a takeover.
    const remoteRun = c.currentRun && c.currentRun.nodeId !== undefined ? c.currentRun.runId : `${runId}r`;
    const frame = (seq: number, kind: string, extra: Record<string, unknown> = {}) => ({ kind, sessionId: 'session-1', seq, runId: remoteRun, provider: 'p', ...extra });
    const tracksRemote = snapshot.matches('idle') || snapshot.matches('remote');
    events.push(t('remote text', { type: 'remote.frames', frames: [frame(c.seq + 1, 'text')] }));
    if (tracksRemote) {
      if (!c.pendingPermissions.some((p) => p.requestId === 'rq')) {
        events.push(t('remote request', { type: 'remote.frames', frames: [frame(c.seq + 1, 'permission_request', { requestId: 'rq', toolName: 'Bash', input: {} })] }));
      }
      events.push(t('remote end', { type: 'remote.frames', frames: [frame(c.seq, 'text'), frame(c.seq + 1, 'complete', { exitCode: 0, aborted: false })] }));
      events.push(t('remote record', { type: 'remote.run-observed', run: { runId: remoteRun, nodeId: 'node-b', provider: 'p', startedAt: 1, firstSeq: c.seq, pendingPermissions: [] } }));
      events.push(t('takeover', { type: 'run.interrupted', runId: remoteRun, provider: 'p', reason: 'node_lost' }));
    }
    if (snapshot.matches('idle')) {
      events.push(t('lease held', { type: 'client.send', subscriberId: 'B', runId: `${runId}h`, ...request, providerSessionId: null, runLease: 'held' }));
      events.push(t('no backend', { type: 'client.send', subscriberId: 'B', runId: `${runId}u`, ...request, providerSessionId: null, runLease: 'unavailable' }));
    }
    if (c.currentRun) {
      events.push(t('peer abort', { type: 'peer.abort', runId: c.currentRun.runId }));
      events.push(t('lost', { type: 'run.lost', runId: c.currentRun.runId }));
      if (pending) events.push(t('peer answer', { type: 'peer.permission-response', runId: pending.runId, requestId: pending.requestId, decision: { allow: true } }));
    }
    if (snapshot.matches('idle')) events.push({ type: IDLE_TTL });
    if (snapshot.matches('remote')) events.push({ type: REMOTE_TTL });
    if (snapshot.matches('locked')) events.push({ type: LOCKED_TIMEOUT });
    if (snapshot.matches('stopping')) events.push({ type: SHUTDOWN_GRACE });
    return events;
  },

  async execute(steps: PathStep[], configuration, inspect) {
    const clock = new SimulatedClock();
    const emitted: ChatSessionEmitted[] = [];
    const start = configuration.input as ChatSessionInput;
    const session = createActor(chatSessionMachine.provide({ actors: { chatRun: stubRun as never } }), { input: start, clock, inspect });
    session.on('*', (event) => void emitted.push(event as ChatSessionEmitted));
    session.start();
    let lastSeq = start.latestSeq;
    const endedRuns = new Set<string>();

    for (const step of steps) {
      const before = session.getSnapshot() as Snapshot;
      const beforeContext = context(before);
      const event = liveEvent(chatSessionModel, step, before);
      if (event.type.startsWith('xstate.done.actor.run:') || event.type.startsWith('xstate.error.actor.run:')) {
        const child = before.children[String(event.actorId)];
        invariant(child, `the run ${String(event.actorId)} has a live child`);
        child.send({ type: event.type.startsWith('xstate.done') ? 'test.finish' : 'test.crash' });
      } else if (event.type === IDLE_TTL || event.type === LOCKED_TIMEOUT || event.type === SHUTDOWN_GRACE || event.type === REMOTE_TTL) {
        clock.increment(afterDelay(chatSessionMachine, event.type, beforeContext as never));
      } else {
        session.send(event as never);
      }

      const live = session.getSnapshot() as Snapshot;
      invariant(JSON.stringify(live.value) === JSON.stringify(step.state.value), `live state ${JSON.stringify(live.value)}, model says ${JSON.stringify(step.state.value)}`);
      const c = context(live);
      const completes: string[] = [];
      const ends: string[] = [];
      const batch = emitted.splice(0);
      for (const [index, sent] of batch.entries()) {
        if (sent.type === 'frames') {
          invariant(sent.frames.length > 0, 'a frames event carries frames');
          for (const frame of sent.frames) {
            invariant(frame.seq === lastSeq + 1, `seq ${frame.seq} after ${lastSeq}`);
            lastSeq = frame.seq;
            if (sent.durable) invariant(!batch.some((e) => e.type === 'run.ended' && e.runId === frame.runId), 'another node\'s complete ends nothing here');
            if (frame.kind === 'complete' && !sent.durable) completes.push(frame.runId);
          }
        }
        if (sent.type === 'subscribed') invariant(sent.lastSeq === lastSeq, 'the ack reports the latest seq');
        if (sent.type === 'reply' && sent.frame.code === 'RUN_IN_PROGRESS') {
          invariant(!before.matches('idle') || event.runLease === 'held', 'RUN_IN_PROGRESS only while a run holds the session, here or elsewhere');
        }
        if (sent.type === 'subscribed' && sent.replayAfter !== null) invariant(sent.replayAfter < sent.lastSeq, 'a replay starts before the latest seq');
        if (sent.type === 'send.repeated') invariant(!batch.some((e) => e.type === 'run.started'), 'a repeated send starts no run');
        if (sent.type === 'attention') {
          // Right after the frame nobody was sent: the last of the stretch before it.
          const previous = batch[index - 1];
          const frame = previous?.type === 'frames' ? previous.frames[previous.frames.length - 1] : undefined;
          invariant(frame !== undefined && previous?.type === 'frames' && frame.seq === sent.frame.seq && previous.subscribers.length === 0, 'attention only for a frame nobody watched');
        }
        if (sent.type === 'run.ended') {
          invariant(!endedRuns.has(sent.runId), `one end per run (${sent.runId})`);
          endedRuns.add(sent.runId);
          ends.push(sent.runId);
        }
      }
      invariant(JSON.stringify(completes) === JSON.stringify(ends), `each sequenced complete ends its run, and only it (${completes} vs ${ends})`);
      invariant(c.seq === lastSeq, 'the context seq is the last one assigned');
      if (live.status === 'done') {
        const leaving = event.type === 'client.unsubscribe' || event.type === 'client.dropped' ? event.subscriberId : null;
        const joining = event.type === 'client.subscribe' ? [event.subscriberId as string] : [];
        const watchers = [...beforeContext.subscribers.filter((id) => id !== leaving), ...joining.filter((id) => !beforeContext.subscribers.includes(id))];
        // Shutdown closes every session; otherwise a session closes only when nothing holds it.
        // [cluster] A lost lease closes the session with its run (stopped, its end the other node's).
        const shutdown = event.type === 'gateway.shutdown' || event.type === 'session.deleted' || event.type === 'run.lost' || before.matches('stopping');
        invariant(shutdown || beforeContext.liveRuns.length === 0, 'closed only without runs');
        invariant(shutdown || watchers.length === 0 || c.seq === 0, 'closed while watched only if nothing was ever sequenced');
        if (event.type === 'session.deleted') invariant(!before.matches('running') && !before.matches('stopping'), 'a running session is never deleted');
        invariant(JSON.stringify(live.output) === JSON.stringify({ watchers }), 'whoever still watches is handed back');
        continue;
      }
      invariant((live.matches('running') || live.matches('stopping') || live.matches('remote')) === (c.currentRun !== null), 'running (or stopping, or remote) exactly when there is a current run');
      invariant(live.matches('remote') === (c.currentRun !== null && c.currentRun.nodeId !== undefined), 'remote exactly when the current run is another node\'s');
      invariant(live.matches('locked') === (c.lockedBy !== null), 'locked exactly when a failed abort holds the lock');
      invariant(new Set(c.subscribers).size === c.subscribers.length, 'subscribers are unique');
      const children = Object.keys(live.children).sort();
      invariant(JSON.stringify(children) === JSON.stringify(c.liveRuns.map((id) => `run:${id}`).sort()), `children ${children} vs live runs ${c.liveRuns}`);
    }
    session.stop();
  },
};
