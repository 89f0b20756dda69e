// Draws one chat session: every sequenced frame becomes an element carrying its seq (so the
// page can show, and a test can check, that no frame is missing or doubled), streamed words are
// gathered into one answer bubble, permission requests become Approve/Deny cards, and the user's
// own prompt (the run's first frame, `{kind: 'text', role: 'user'}`) is drawn as the user's message.

import { el } from './dom.js';

function describeInput(input) {
  if (!input || typeof input !== 'object') return '';
  if (typeof input.command === 'string') return input.command;
  if (typeof input.file_path === 'string') return input.file_path;
  return JSON.stringify(input);
}

const FRAME_LOG_LIMIT = 400;

export class ChatView {
  /**
   * @param {string} sessionId
   * @param {(requestId: string, allow: boolean) => boolean} answer  sends the answer; false when offline
   */
  constructor(sessionId, answer) {
    this.sessionId = sessionId;
    this.answer = answer;
    this.transcript = el('div', 'transcript');
    this.transcript.dataset.sessionId = sessionId;
    this.frameLog = el('ol', 'frame-log');
    this.frameLog.dataset.sessionId = sessionId;
    this.bubble = null;
    /** requestId → card element */
    this.cards = new Map();
  }

  clear() {
    this.transcript.replaceChildren();
    this.frameLog.replaceChildren();
    this.bubble = null;
    this.cards.clear();
  }

  note(text, className = 'note') {
    this.transcript.append(el('div', `event ${className}`, text));
    this.scroll();
  }

  logFrame(frame, origin) {
    const row = el('li', `frame ${origin}`);
    row.dataset.seq = String(frame.seq ?? '');
    row.dataset.origin = origin;
    row.append(el('span', 'seq', frame.seq === undefined ? '–' : `#${frame.seq}`), el('span', 'kind', frame.kind ?? '?'), el('span', 'origin', origin));
    this.frameLog.append(row);
    while (this.frameLog.childElementCount > FRAME_LOG_LIMIT) this.frameLog.firstElementChild.remove();
    this.frameLog.scrollTop = this.frameLog.scrollHeight;
  }

  /** One sequenced frame, already deduplicated by the client. */
  render(frame, origin) {
    this.logFrame(frame, origin);
    const seq = String(frame.seq);
    const tag = (node) => {
      node.dataset.seq = seq;
      node.dataset.kind = frame.kind;
      if (origin === 'replay') node.classList.add('replayed');
      if (origin === 'history') node.classList.add('from-history');
      return node;
    };
    if (frame.kind !== 'stream_delta') this.bubble = null;
    switch (frame.kind) {
      case 'stream_delta': {
        if (!this.bubble) {
          this.bubble = el('div', 'event answer');
          this.transcript.append(this.bubble);
        }
        this.bubble.append(tag(el('span', 'word', String(frame.content ?? ''))));
        break;
      }
      case 'stream_end':
        this.transcript.append(tag(el('div', 'event marker', 'end of stream')));
        break;
      case 'status':
        this.transcript.append(tag(el('div', 'event status', `status: ${frame.text ?? ''}`)));
        break;
      case 'thinking':
        this.transcript.append(tag(el('div', 'event thinking', String(frame.content ?? ''))));
        break;
      case 'tool_use': {
        const node = tag(el('div', 'event tool'));
        node.append(el('strong', '', frame.toolName ?? 'tool'), el('code', '', describeInput(frame.input)));
        this.transcript.append(node);
        break;
      }
      case 'permission_request':
        // The ack may have announced this request before its replay arrives: move that card here.
        this.transcript.append(tag(this.cards.get(frame.requestId) ?? this.card(frame)));
        break;
      case 'permission_cancelled': {
        this.transcript.append(tag(el('div', 'event marker', `permission ${frame.reason ?? 'cancelled'}`)));
        this.settleCard(frame.requestId, `Withdrawn by the agent (${frame.reason ?? 'cancelled'})`);
        break;
      }
      case 'tool_result': {
        const node = tag(el('div', frame.isError ? 'event tool-result error' : 'event tool-result'));
        node.append(el('div', 'label', `${frame.toolName ?? 'tool'} ${frame.isError ? 'failed' : 'result'}`), el('pre', '', String(frame.content ?? '')));
        this.transcript.append(node);
        for (const [requestId, card] of this.cards) {
          if (card.dataset.toolId === frame.toolId) this.settleCard(requestId, frame.isError ? 'Answered: not run' : 'Answered: allowed, the tool ran');
        }
        break;
      }
      case 'text':
        this.transcript.append(tag(el('div', frame.role === 'user' ? 'event user' : 'event text', String(frame.content ?? ''))));
        break;
      case 'error':
        this.transcript.append(tag(el('div', 'event error', `error: ${frame.content ?? frame.error ?? ''}`)));
        break;
      case 'complete': {
        const outcome = frame.aborted ? 'aborted' : frame.success ? 'success' : `failed (exit ${frame.exitCode})`;
        const node = tag(el('div', `event complete ${frame.aborted ? 'aborted' : frame.success ? 'ok' : 'failed'}`, `run complete: ${outcome}`));
        this.transcript.append(node);
        for (const [requestId, card] of this.cards) {
          if (card.dataset.runId === frame.runId) this.settleCard(requestId, 'Closed: the run ended');
        }
        break;
      }
      default:
        this.transcript.append(tag(el('div', 'event other', `${frame.kind}: ${JSON.stringify(frame).slice(0, 200)}`)));
    }
    this.scroll();
  }

  card(request) {
    const node = el('div', 'event permission');
    node.dataset.requestId = request.requestId;
    if (request.toolId) node.dataset.toolId = request.toolId;
    if (request.runId) node.dataset.runId = request.runId;
    const text = el('div', 'question');
    text.append('The agent wants to run ', el('strong', '', request.toolName ?? 'a tool'), ': ', el('code', '', describeInput(request.input)));
    const approve = el('button', 'approve', 'Approve');
    const deny = el('button', 'deny', 'Deny');
    const state = el('span', 'card-state', 'waiting for your answer');
    const choose = (allow) => {
      if (!this.answer(request.requestId, allow)) {
        state.textContent = 'not sent: the connection is down';
        return;
      }
      approve.disabled = true;
      deny.disabled = true;
      state.textContent = allow ? 'approved, waiting for the agent…' : 'denied, waiting for the agent…';
    };
    approve.type = 'button';
    deny.type = 'button';
    approve.addEventListener('click', () => choose(true));
    deny.addEventListener('click', () => choose(false));
    const actions = el('div', 'actions');
    actions.append(approve, deny, state);
    node.append(text, actions);
    this.cards.set(request.requestId, node);
    return node;
  }

  settleCard(requestId, text) {
    const node = this.cards.get(requestId);
    if (!node || node.classList.contains('settled')) return;
    node.classList.add('settled');
    for (const button of node.querySelectorAll('button')) button.disabled = true;
    node.querySelector('.card-state').textContent = text;
  }

  /** Cards follow the session's pending set: ones only the ack told about appear, answered ones close. */
  syncPending(session) {
    for (const [requestId, request] of session.pending) {
      if (!this.cards.has(requestId)) {
        this.transcript.append(this.card(request));
        this.scroll();
      }
    }
    for (const requestId of this.cards.keys()) {
      if (!session.pending.has(requestId)) this.settleCard(requestId, 'Answered');
    }
  }

  scroll() {
    this.transcript.scrollTop = this.transcript.scrollHeight;
  }
}
