import type { AnyActorRef } from 'xstate';

import type { Logger } from '../logger.js';
import type { RuntimeWriter } from '../types.js';

/**
 * The writer handed to a provider runtime for one run. It only validates at the edge and
 * forwards into the run actor; the run and session machines decide what is dropped, captured
 * or sequenced.
 */
export interface RuntimeWriterOptions {
  /** Finds the run actor; undefined once the run has ended and its runtime settled. */
  runActor: () => AnyActorRef | undefined;
  userId: string | number | null;
  providerSessionId: string | null;
  logger: Logger;
  runId: string;
}

export function createRuntimeWriter(options: RuntimeWriterOptions): RuntimeWriter {
  let providerSessionId = options.providerSessionId;
  const deliver = (event: { type: string; [key: string]: unknown }) => {
    const actor = options.runActor();
    if (!actor) {
      options.logger.debug('Dropping runtime output after its run ended', { runId: options.runId, event: event.type });
      return;
    }
    actor.send(event);
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
      deliver({ type: 'runtime.message', message: record });
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
