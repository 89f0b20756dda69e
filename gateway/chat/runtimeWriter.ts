import type { AnyActorRef } from 'xstate';

import { RUN_MESSAGE_KINDS } from '../../machines/chatRun.machine.js';
import type { Logger } from '../logger.js';
import type { RuntimeWriter } from '../types.js';

/**
 * The writer handed to a provider runtime for one run. It only validates at the edge and
 * forwards into the machines, which decide what is dropped, captured or sequenced: the kinds
 * the run machine has a rule for (`RUN_MESSAGE_KINDS`: `complete`, `session_created`) go to the
 * run actor; every other kind, which the run machine would only forward, goes straight to the
 * run's session as the `run.message` the run would have sent: one actor transition per frame
 * instead of two (`bench/hotPath.ts`, with the timestamp cache in `sessionEffects.ts`: 52 → 41 µs
 * of CPU per event, and ~28% less garbage), and the messages of one microtask as one
 * `run.messages`: one transition for a runtime's whole chunk.
 */
export interface RuntimeWriterOptions {
  /** Finds the run actor; undefined once the run has ended and its runtime settled. */
  runActor: () => AnyActorRef | undefined;
  /** Finds the run's session actor (by its system id, `chat:<sessionId>`). */
  sessionActor: () => AnyActorRef | undefined;
  userId: string | number | null;
  providerSessionId: string | null;
  logger: Logger;
  runId: string;
}

export function createRuntimeWriter(options: RuntimeWriterOptions): RuntimeWriter {
  let providerSessionId = options.providerSessionId;
  const liveRun = (what: string): AnyActorRef | undefined => {
    const actor = options.runActor();
    if (!actor) options.logger.debug('Dropping runtime output after its run ended', { runId: options.runId, event: what });
    return actor;
  };
  /**
   * Messages for the session handed over since the last flush: a runtime's chunk of deltas goes
   * to the session in one `run.messages` at the end of the microtask (one transition, not one per
   * message). Anything for the run actor flushes them first, so the order is the runtime's.
   */
  let batch: Array<{ kind: string }> = [];
  const flush = () => {
    if (batch.length === 0) return;
    const messages = batch;
    batch = [];
    if (!liveRun('runtime.message')) return;
    // The run's session, which sequences its messages only while the run lives (`isLiveRun`).
    const session = options.sessionActor();
    if (!session) return;
    if (messages.length === 1) session.send({ type: 'run.message', runId: options.runId, message: messages[0] });
    else session.send({ type: 'run.messages', runId: options.runId, messages });
  };
  const deliver = (event: { type: string; [key: string]: unknown }) => {
    flush();
    liveRun(event.type)?.send(event);
  };
  const deliverMessage = (message: { kind: string }) => {
    if (!RUN_MESSAGE_KINDS.has(message.kind)) {
      if (batch.push(message) === 1) queueMicrotask(flush);
      return;
    }
    flush();
    liveRun('runtime.message')?.send({ type: 'runtime.message', message });
  };
  return {
    userId: options.userId,
    isWebSocketWriter: true,
    send(message: unknown) {
      if (typeof message !== 'object' || message === null || typeof (message as { kind?: unknown }).kind !== 'string') {
        options.logger.warn('Dropping a runtime message without a string kind', { runId: options.runId });
        return;
      }
      const record = message as { kind: string; newSessionId?: unknown; sessionId?: unknown };
      if (record.kind === 'session_created') {
        const announced = typeof record.newSessionId === 'string' && record.newSessionId
          ? record.newSessionId
          : typeof record.sessionId === 'string' ? record.sessionId : null;
        if (announced) providerSessionId = announced;
      }
      deliverMessage(record);
    },
    setSessionId(id: string) {
      if (typeof id !== 'string' || id.length === 0 || id === providerSessionId) return;
      providerSessionId = id;
      deliver({ type: 'runtime.session-id', providerSessionId: id });
    },
    getSessionId() {
      return providerSessionId;
    },
  };
}
