/**
 * The producer both relays share: it decides when each event is sent and stamps it; the relay
 * decides what "send" costs (the gateway: `writer.send` into its machines; bare: one stringify
 * and N `ws.send`). Both loops are bounded by count and by time.
 */
import { randomUUID } from 'node:crypto';

import { nextTurn, nowUs } from '../lib/clock.js';
import { deltaMessage, type DeltaMessage } from '../lib/frames.js';
import type { ProduceResult, RelayServerApi } from './relayApi.js';

export type Publish = (sessionId: string, message: DeltaMessage) => void;

export interface Producer {
  burst(sessionIds: string[], perSession: number, batch: number): Promise<ProduceResult>;
  startStream(sessionIds: string[], ratePerSecond: number, durationMs: number): void;
  awaitStream(): Promise<ProduceResult>;
  stopStream(): Promise<ProduceResult>;
  /** The latest seq produced for a session (seqs start at 1 for a new session). */
  lastSeq(sessionId: string): number;
}

/** Timers fire at best once a millisecond; the paced loop catches up on whatever came due. */
const PACE_TICK_MS = 1;
/** A paced stream that cannot keep up stops at this multiple of its planned duration. */
const LATE_LIMIT_FACTOR = 3;

export function createProducer(publish: Publish): Producer {
  const seqs = new Map<string, number>();
  let counter = 0;
  let stream: { stop: boolean; done: Promise<ProduceResult> } | null = null;

  const send = (sessionId: string, sentAtUs = nowUs()) => {
    seqs.set(sessionId, (seqs.get(sessionId) ?? 0) + 1);
    publish(sessionId, deltaMessage(counter++, sentAtUs));
  };
  const lastSeqs = (sessionIds: string[]) => Object.fromEntries(sessionIds.map((id) => [id, seqs.get(id) ?? 0]));

  return {
    async burst(sessionIds, perSession, batch) {
      const total = perSession * sessionIds.length;
      const startUs = nowUs();
      let sent = 0;
      while (sent < total) {
        const end = Math.min(total, sent + batch);
        for (; sent < end; sent++) send(sessionIds[sent % sessionIds.length]);
        await nextTurn();
      }
      return { startUs, endUs: nowUs(), sent, lastSeqs: lastSeqs(sessionIds) };
    },

    startStream(sessionIds, ratePerSecond, durationMs) {
      if (stream) throw new Error('a stream is already running');
      const state = { stop: false, done: null as unknown as Promise<ProduceResult> };
      state.done = (async () => {
        const startUs = nowUs();
        const maxEvents = Math.ceil((ratePerSecond * durationMs) / 1000);
        // A producer that falls behind still sends every event (late), but never for longer than this.
        const giveUpAtUs = startUs + LATE_LIMIT_FACTOR * durationMs * 1000;
        let sent = 0;
        while (!state.stop && sent < maxEvents) {
          const now = nowUs();
          if (now >= giveUpAtUs) break;
          // Event k is due at k / rate: at time t, events 0 … floor(t × rate) are (the first at once).
          const due = Math.min(maxEvents, Math.floor(((now - startUs) * ratePerSecond) / 1e6) + 1);
          // Stamped with when the event was due, not when this loop got to it: a server whose
          // event loop was blocked makes its events late, and that lateness is latency too.
          for (; sent < due; sent++) send(sessionIds[sent % sessionIds.length], startUs + Math.floor((sent * 1e6) / ratePerSecond));
          if (sent < maxEvents) await new Promise((resolve) => setTimeout(resolve, PACE_TICK_MS));
        }
        return { startUs, endUs: nowUs(), sent, lastSeqs: lastSeqs(sessionIds) };
      })();
      stream = state;
    },

    async awaitStream() {
      if (!stream) throw new Error('no stream');
      const result = await stream.done;
      stream = null;
      return result;
    },

    async stopStream() {
      if (!stream) throw new Error('no stream');
      stream.stop = true;
      const result = await stream.done;
      stream = null;
      return result;
    },

    lastSeq: (sessionId) => seqs.get(sessionId) ?? 0,
  };
}

/** The producer's part of the relay API, the same for both relays. */
export function producerApi(producer: Producer): Pick<RelayServerApi, 'burst' | 'startStream' | 'awaitStream' | 'stopStream'> {
  return {
    burst: ({ sessionIds, perSession, batch }) => producer.burst(sessionIds, perSession, batch),
    startStream({ sessionIds, ratePerSecond, durationMs }) {
      producer.startStream(sessionIds, ratePerSecond, durationMs);
      return null;
    },
    awaitStream: () => producer.awaitStream(),
    stopStream: () => producer.stopStream(),
  };
}

/**
 * The session part of the relay API, the same for both relays (the bare one and socket.io): a
 * session is whatever `sessionOf` makes for an id, kept in `sessions` until it is finished.
 */
export function relaySessionsApi(
  sessions: Map<string, unknown>,
  sessionOf: (sessionId: string) => unknown,
): Pick<RelayServerApi, 'createSessions' | 'finishSessions'> {
  return {
    async createSessions({ count }) {
      const sessionIds = Array.from({ length: count }, () => randomUUID());
      for (const id of sessionIds) sessionOf(id);
      return { sessionIds };
    },
    async finishSessions({ sessionIds }) {
      for (const id of sessionIds) sessions.delete(id);
      return null;
    },
  };
}
