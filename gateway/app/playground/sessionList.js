// The stored sessions, from REST: GET /api/providers/sessions (newest activity first, with
// `running` and `latestSeq`), DELETE /api/providers/sessions/:id, and a session's history from
// GET /api/providers/sessions/:id/messages, read page by page in seq order.

import { el, shortId } from './dom.js';

/** Events per history request (the server clamps to its own bound). */
export const HISTORY_PAGE = 500;
/**
 * Requests one history load may make. A session keeps at most maxEventsPerSession events (5000
 * by default), so this is far more than any load needs; it only stops a misbehaving server.
 */
export const HISTORY_MAX_PAGES = 40;
/** Sessions listed at first; "Show older" adds as many again (the server caps a page at 200). */
export const SESSIONS_SHOWN = 20;
const SESSIONS_MAX_SHOWN = 200;

/**
 * A session's whole retained history, in seq order. Rejects with `status: 404` for an unknown id.
 * @param {(path: string, init?: object) => Promise<any>} api
 */
export async function loadHistory(api, sessionId) {
  const frames = [];
  let afterSeq = 0;
  for (let page = 0; page < HISTORY_MAX_PAGES; page++) {
    const body = await api(`/api/providers/sessions/${encodeURIComponent(sessionId)}/messages?afterSeq=${afterSeq}&limit=${HISTORY_PAGE}`);
    frames.push(...body.messages);
    if (!body.hasMore || body.messages.length === 0) break;
    afterSeq = body.messages[body.messages.length - 1].seq;
  }
  return frames;
}

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export class SessionList {
  /**
   * @param {object} options
   * @param {HTMLElement} options.list        the <ul> to draw into
   * @param {HTMLButtonElement} options.more  "Show older"
   * @param {(path: string, init?: object) => Promise<any>} options.api
   * @param {(sessionId: string) => void} options.onOpen
   * @param {(sessionId: string) => void} options.onDeleted
   * @param {(text: string) => void} options.onError
   */
  constructor(options) {
    this.options = options;
    this.shown = SESSIONS_SHOWN;
    this.selected = null;
    this.sessions = [];
    options.more.addEventListener('click', () => {
      this.shown = Math.min(SESSIONS_MAX_SHOWN, this.shown + SESSIONS_SHOWN);
      void this.refresh();
    });
  }

  async refresh() {
    const { sessions, nextBefore } = await this.options.api(`/api/providers/sessions?limit=${this.shown}`);
    this.sessions = sessions;
    this.options.more.hidden = nextBefore === null || this.shown >= SESSIONS_MAX_SHOWN;
    this.render();
  }

  select(sessionId) {
    this.selected = sessionId;
    this.render();
  }

  render() {
    const { list } = this.options;
    list.replaceChildren();
    if (this.sessions.length === 0) list.append(el('li', 'muted', 'none yet'));
    for (const session of this.sessions) {
      const item = el('li', session.sessionId === this.selected ? 'selected' : '');
      item.dataset.sessionId = session.sessionId;
      item.dataset.running = String(session.running);
      const open = el('button', 'link', shortId(session.sessionId));
      open.type = 'button';
      open.title = `${session.sessionId}\n${session.projectPath ?? ''}\ncreated ${session.createdAt}`;
      open.addEventListener('click', () => this.options.onOpen(session.sessionId));
      const state = el('span', `dot ${session.running ? 'running' : 'idle'}`, session.running ? 'running' : `seq ${session.latestSeq} · ${ago(session.updatedAt)}`);
      const remove = el('button', 'delete', '×');
      remove.type = 'button';
      remove.title = session.running ? 'A run is running: abort it first' : 'Delete the session and its history';
      remove.disabled = session.running;
      remove.setAttribute('aria-label', `delete session ${session.sessionId}`);
      remove.addEventListener('click', () => void this.remove(session.sessionId));
      item.append(open, state, remove);
      list.append(item);
    }
  }

  async remove(sessionId) {
    try {
      await this.options.api(`/api/providers/sessions/${encodeURIComponent(sessionId)}`, { method: 'DELETE' });
    } catch (error) {
      // 409: a run started meanwhile; 404: another tab deleted it first.
      if (error.status !== 404) {
        this.options.onError(`Could not delete ${shortId(sessionId)}: ${error.message}`);
        return;
      }
    }
    this.sessions = this.sessions.filter((session) => session.sessionId !== sessionId);
    this.render();
    this.options.onDeleted(sessionId);
  }
}
