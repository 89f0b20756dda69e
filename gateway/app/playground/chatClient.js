// The /ws chat client, written against docs/PROTOCOL.md §2 only, so it doubles as a reference:
// a session opens with the history the page loaded over REST (GET …/messages), then subscribes
// with the last seq of that history, so nothing shows twice;
// one socket for every session of the tab; on each (re)connect it subscribes every session with
// the last seq it applied; it drops frames it already has (dedupe by seq); it tells replayed
// frames from live ones (seq ≤ the ack's lastSeq); and a gap (the ack's `gap`, or a hole in the
// seqs) is shown as a notice to reload, never papered over.
import { ReconnectingSocket } from './socket.js';

/** @typedef {'history' | 'live' | 'replay'} Origin  history: loaded over REST before subscribing */

export class ChatSession {
  constructor(sessionId) {
    this.sessionId = sessionId;
    /** Highest seq applied: sent as lastSeq on every (re)subscribe. */
    this.lastSeq = 0;
    /** Frames up to this seq, after the latest ack, are replays. */
    this.replayUntil = 0;
    this.acks = 0;
    this.stats = { history: 0, live: 0, replayed: 0, duplicates: 0 };
    /** null, or { reason, afterSeq } when events were lost and the view must be reloaded. */
    this.gap = null;
    /** History this tab never got: a new tab on a finished session is not replayed (PROTOCOL §2). */
    this.unseenBefore = 0;
    this.oldestSeq = 0;
    this.running = false;
    this.runId = null;
    this.completedRunIds = new Set();
    /** requestId → permission request still waiting for an answer. */
    this.pending = new Map();
  }
}

export class ChatClient {
  /**
   * @param {object} options
   * @param {() => string} options.url
   * @param {(session: ChatSession, frame: object, origin: Origin) => void} options.onEvent
   * @param {(session: ChatSession, frame: object) => void} options.onAck
   * @param {(session: ChatSession, frame: object) => void} options.onDuplicate  a frame dropped by seq
   * @param {(frame: object) => void} options.onGatewayFrame   protocol_error, session_upserted, …
   * @param {(session: ChatSession) => void} options.onSessionChange
   * @param {(status: object) => void} options.onStatus
   * @param {(close: object) => void} [options.onClose]  closes the page did not ask for (socket.js)
   */
  constructor(options) {
    this.options = options;
    /** @type {Map<string, ChatSession>} */
    this.sessions = new Map();
    this.socket = new ReconnectingSocket({
      url: options.url,
      onOpen: () => this.subscribe([...this.sessions.values()]),
      onMessage: (text) => this.receive(text),
      onStatus: options.onStatus,
      onClose: options.onClose,
    });
  }

  start() {
    this.socket.start();
  }

  /**
   * Watches a session from this tab (idempotent). `history`: the session's frames loaded over
   * REST, in seq order; they are applied first and the subscribe asks only for what follows.
   */
  open(sessionId, history = []) {
    let session = this.sessions.get(sessionId);
    if (!session) {
      session = new ChatSession(sessionId);
      this.sessions.set(sessionId, session);
      for (const frame of history) if (typeof frame?.seq === 'number') this.apply(session, frame, 'history');
      this.subscribe([session]);
    }
    return session;
  }

  /** Stops watching a session (it was deleted): the gateway is told, the tab forgets it. */
  forget(sessionId) {
    if (!this.sessions.delete(sessionId)) return;
    this.socket.send({ type: 'chat.unsubscribe', sessions: [sessionId] });
  }

  subscribe(sessions) {
    if (sessions.length === 0) return;
    this.socket.send({
      type: 'chat.subscribe',
      // The history came over REST, so the socket is asked only for what follows it. (With
      // `lastSeq: 0` a running run is still replayed from its start; `history: true` would
      // replay the REST history a second time.)
      sessions: sessions.map((s) => ({ sessionId: s.sessionId, lastSeq: s.lastSeq })),
    });
  }

  /**
   * A gap cannot be filled over the socket: the page loads the history over REST again and the
   * session starts afresh from it.
   */
  reload(session, history = []) {
    this.sessions.delete(session.sessionId);
    return this.open(session.sessionId, history);
  }

  sendPrompt(sessionId, content) {
    return this.socket.send({ type: 'chat.send', sessionId, content });
  }

  abort(sessionId) {
    return this.socket.send({ type: 'chat.abort', sessionId });
  }

  answerPermission(requestId, allow) {
    const frame = { type: 'chat.permission-response', requestId, allow };
    if (!allow) frame.message = 'Denied in the playground';
    return this.socket.send(frame);
  }

  drop(ms) {
    this.socket.drop(ms);
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object') return;
    const session = typeof frame.sessionId === 'string' ? this.sessions.get(frame.sessionId) : undefined;
    if (frame.kind === 'chat_subscribed') {
      if (session) this.acknowledge(session, frame);
      return;
    }
    if (typeof frame.seq === 'number' && session) {
      this.apply(session, frame);
      return;
    }
    this.options.onGatewayFrame(frame);
  }

  acknowledge(session, ack) {
    session.acks += 1;
    session.oldestSeq = ack.oldestSeq ?? 0;
    session.running = ack.isProcessing === true;
    session.runId = ack.runId ?? null;
    if (session.lastSeq === 0 && !session.running && ack.lastSeq > 0) {
      // Events the REST history did not have yet (a run that started and ended in between): no
      // replay comes for a finished run; "Reload session" loads them.
      session.unseenBefore = ack.lastSeq;
      session.lastSeq = ack.lastSeq;
    }
    session.replayUntil = ack.lastSeq;
    if (ack.gap === true) session.gap = { reason: 'The gateway no longer has every event after the seq this tab last saw.', afterSeq: session.lastSeq };
    for (const request of ack.pendingPermissions ?? []) {
      // Pending requests belong to the run that is running now.
      if (!session.pending.has(request.requestId)) session.pending.set(request.requestId, { ...request, runId: ack.runId ?? null });
    }
    this.options.onAck(session, ack);
    this.options.onSessionChange(session);
  }

  apply(session, frame, from = null) {
    if (frame.seq <= session.lastSeq) {
      session.stats.duplicates += 1;
      this.options.onDuplicate(session, frame);
      this.options.onSessionChange(session);
      return;
    }
    if (session.lastSeq > 0 && frame.seq > session.lastSeq + 1) {
      session.gap = { reason: `Frames ${session.lastSeq + 1}–${frame.seq - 1} never arrived.`, afterSeq: session.lastSeq };
    }
    session.lastSeq = frame.seq;
    const origin = from ?? (frame.seq <= session.replayUntil ? 'replay' : 'live');
    if (origin === 'history') session.stats.history += 1;
    else if (origin === 'replay') session.stats.replayed += 1;
    else session.stats.live += 1;
    this.track(session, frame);
    this.options.onEvent(session, frame, origin);
    this.options.onSessionChange(session);
  }

  /** Run and permission state, from the stream alone. */
  track(session, frame) {
    switch (frame.kind) {
      case 'permission_request':
        session.pending.set(frame.requestId, frame);
        break;
      case 'permission_cancelled':
        session.pending.delete(frame.requestId);
        break;
      case 'tool_result':
        for (const [id, request] of session.pending) if (request.toolId && request.toolId === frame.toolId) session.pending.delete(id);
        break;
      case 'complete':
        // A replayed complete of an earlier run must not close the current run's requests.
        if (frame.runId === session.runId) session.running = false;
        session.completedRunIds.add(frame.runId);
        for (const [id, request] of session.pending) if (request.runId === frame.runId) session.pending.delete(id);
        break;
      default:
        if (!session.completedRunIds.has(frame.runId)) {
          session.running = true;
          session.runId = frame.runId ?? session.runId;
        }
    }
  }
}
