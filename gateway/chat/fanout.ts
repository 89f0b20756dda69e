import { WebSocket } from 'ws';

import type { ChatEventLog } from '../../persistence/types.js';
import { frameBytes, type SendBudget } from '../sendBudget.js';
import { createDrainWait } from './drainWait.js';
import { createDurableCork } from './durableCork.js';

/**
 * Fan-out with back-pressure for `/ws` subscribers. Each (socket, session) pair has a cursor:
 * the last seq that socket was sent. Live frames go straight out while the socket's buffer is
 * under the high-water mark; above it the pair turns `lagging`, live frames are skipped, and
 * once the buffer drains below the low-water mark the pair is caught up from the event log.
 * Memory per slow client is therefore bounded by the high-water mark plus one catch-up batch,
 * and no fast client waits for a slow one. No frame leaves before its event is written.
 */

export interface SessionCursor {
  /** The last seq sent to this socket for this session (or where a subscribe placed it: see `sent`). */
  cursor: number;
  lagging: boolean;
  /**
   * Whether anything was sent since the cursor was last placed: a subscribe that starts at the
   * latest seq, or skips ahead, moves the cursor without sending.
   */
  sent: boolean;
  /** [cluster] The cursor the log was last asked to `fill` from (once per position, then a gap is a gap). */
  filledFrom?: number;
}

/** A cursor at `after` with nothing sent yet. */
export const freshCursor = (after: number): SessionCursor => ({ cursor: after, lagging: false, sent: false });

/**
 * A stream that holds writes between `cork()` and `uncork()` (a subscriber's TCP socket), and
 * says when its buffer has drained after being full.
 */
export interface Corkable {
  cork(): void;
  uncork(): void;
  once?(event: 'drain', listener: () => void): unknown;
  off?(event: 'drain', listener: () => void): unknown;
}

export interface Subscriber {
  readonly id: string;
  readonly ws: WebSocket;
  /** Sessions this socket is attached to (subscribed, or auto-subscribed by chat.send). */
  readonly sessions: Map<string, SessionCursor>;
  drainTimer: ReturnType<typeof setTimeout> | null;
  /** The listener waiting for `transport`'s `drain` while the timer polls (one at a time). */
  drainListener?: (() => void) | null;
  /**
   * The TCP socket under `ws`, if known. Frames written to it in one event-loop turn are corked
   * and leave in one write: a token stream hands over many deltas per turn, and one syscall per
   * frame per subscriber was most of the fan-out's cost (bench: fanout).
   */
  readonly transport?: Corkable | null;
  /** True while `transport` is corked until the end of the current turn. */
  corked?: boolean;
}

export interface FanoutOptions {
  log: ChatEventLog;
  highWaterMarkBytes: number;
  lowWaterMarkBytes: number;
  drainPollMs: number;
  catchUpBatchEvents: number;
  /** Sent when a lagging subscriber fell behind the log's oldest event (the frame text). */
  gapNotice: (sessionId: string) => string;
  /** The gateway-wide bound on bytes queued to sockets (`maxTotalSocketBufferBytes`). */
  sendBudget: SendBudget;
}

/** `ws.send` options for a frame handed over as bytes: it is still JSON, a text frame. */
const TEXT_FRAME = { binary: false } as const;

export interface Fanout {
  /**
   * Sends one sequenced frame (already serialized: the JSON text, or its UTF-8 bytes when several
   * sockets get it) to a subscriber, or marks it lagging.
   */
  deliver(subscriber: Subscriber, sessionId: string, seq: number, frame: string | Buffer): void;
  /**
   * Sends everything after `cursor.cursor` from the log, synchronously, until caught up or the
   * socket's buffer is full (then it finishes later). `announceGap`: send the gap notice when
   * the log no longer holds the next event (the subscribe path has said so in its ack already).
   */
  catchUp(subscriber: Subscriber, sessionId: string, announceGap: boolean): void;
  /**
   * Attaches the subscriber to a session from `after` on and replays the log after it. A socket is
   * never sent a seq twice, nor an older seq after a newer one: once it was sent frames of the
   * session, a subscribe with an older `lastSeq` (claudecodeui's second subscribe after a reload
   * names one frame it has already) continues where the socket is. Until then the cursor is just
   * a position and moves back.
   */
  attach(subscriber: Subscriber, sessionId: string, after: number): void;
  /**
   * Holds the subscriber's socket until this turn's events are written: for a frame that is not
   * sequenced but speaks of sequenced ones (the subscribe ack's `lastSeq`).
   */
  hold(subscriber: Subscriber): void;
  /** Stops the subscriber's drain polling (socket closed). */
  release(subscriber: Subscriber): void;
}

export function createFanout(options: FanoutOptions): Fanout {
  const { log } = options;
  const { corkForTurn, whenWritten } = createDurableCork(log);
  const drain = createDrainWait({
    lowWaterMarkBytes: options.lowWaterMarkBytes,
    drainPollMs: options.drainPollMs,
    onDrained(subscriber) {
      for (const [sessionId, cursor] of subscriber.sessions) {
        if (cursor.lagging) catchUp(subscriber, sessionId, true);
      }
    },
  });

  /**
   * The gateway-wide send budget (`maxTotalSocketBufferBytes`): a frame it refuses is treated
   * like a full socket buffer (the pair lags and is caught up from the log later), so nothing is
   * lost and no memory is spent on it now.
   */
  const admits = (ws: WebSocket, frame: string | Buffer) => options.sendBudget.admit(ws, frameBytes(frame));

  const catchUp = (subscriber: Subscriber, sessionId: string, announceGap: boolean) => {
    const cursor = subscriber.sessions.get(sessionId);
    if (!cursor) return;
    const { ws } = subscriber;
    const latest = log.latestSeq(sessionId);
    let gapAnnounced = !announceGap;
    while (cursor.cursor < latest) {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (ws.bufferedAmount > options.highWaterMarkBytes) {
        cursor.lagging = true;
        drain.schedule(subscriber);
        return;
      }
      const events = log.read(sessionId, cursor.cursor, options.catchUpBatchEvents);
      // [cluster] Not in this node's copy of the log: fetched from the shared log first, while the
      // pair lags (live frames wait for the catch-up), and only then, if still missing, a gap.
      if ((events.length === 0 || events[0].seq > cursor.cursor + 1) && log.fill && cursor.filledFrom !== cursor.cursor) {
        cursor.filledFrom = cursor.cursor;
        cursor.lagging = true;
        const resume = () => {
          if (subscriber.sessions.get(sessionId) === cursor) catchUp(subscriber, sessionId, announceGap);
        };
        log.fill(sessionId, cursor.cursor).then(resume, resume);
        return;
      }
      if (events.length === 0) {
        // Nothing retained after the cursor (pruned): the client must reload over REST.
        if (!gapAnnounced) ws.send(options.gapNotice(sessionId));
        cursor.cursor = latest;
        break;
      }
      if (!gapAnnounced && events[0].seq > cursor.cursor + 1) {
        ws.send(options.gapNotice(sessionId));
        gapAnnounced = true;
      }
      // One write per batch, released before the next buffer check so it sees what the kernel
      // took (the batch may still hold events of this turn: then it waits for their write, and
      // the buffer check stops the loop at the high-water mark).
      subscriber.transport?.cork();
      let refused = false;
      for (const event of events) {
        if (!admits(ws, event.json)) {
          refused = true;
          break;
        }
        ws.send(event.json);
        cursor.cursor = event.seq;
        cursor.sent = true;
      }
      const { transport } = subscriber;
      if (transport) whenWritten(() => transport.uncork());
      if (refused) {
        cursor.lagging = true;
        drain.schedule(subscriber);
        return;
      }
    }
    cursor.lagging = false;
  };

  return {
    deliver(subscriber, sessionId, seq, frame) {
      let cursor = subscriber.sessions.get(sessionId);
      if (!cursor) {
        // First frame for a socket the session attached itself (the sender of chat.send).
        cursor = freshCursor(seq - 1);
        subscriber.sessions.set(sessionId, cursor);
      }
      if (cursor.lagging || seq <= cursor.cursor) return;
      const { ws } = subscriber;
      if (ws.readyState !== WebSocket.OPEN) return;
      if (seq !== cursor.cursor + 1 || ws.bufferedAmount > options.highWaterMarkBytes || !admits(ws, frame)) {
        cursor.lagging = true;
        drain.schedule(subscriber);
        return;
      }
      corkForTurn(subscriber);
      ws.send(frame, TEXT_FRAME);
      cursor.cursor = seq;
      cursor.sent = true;
    },
    catchUp,
    attach(subscriber, sessionId, after) {
      const cursor = subscriber.sessions.get(sessionId);
      if (!cursor) {
        subscriber.sessions.set(sessionId, freshCursor(after));
      } else if (after > cursor.cursor || !cursor.sent) {
        // Ahead of what this socket was sent (the client has it from elsewhere), or nothing sent yet.
        cursor.cursor = after;
        cursor.sent = false;
      } else {
        return;
      }
      catchUp(subscriber, sessionId, false);
    },
    hold: corkForTurn,
    release: drain.stop,
  };
}
