// The playground page: wires the chat client, the shell tabs and the REST panels to the DOM.
// Everything it knows comes from the public protocol (docs/PROTOCOL.md, docs/SHELL.md) and the
// REST routes of the standalone server; the token comes from ?token= or the field at the top.
// Close codes and error texts come from the gateway's own table (/codes.js).
import { ChatClient } from './chatClient.js';
import { ChatView } from './chatView.js';
import { CLOSE, CLOSE_CODES } from './codes.js';
import { loadHistory, SessionList } from './sessionList.js';
import { ShellTab } from './shellTab.js';
import { el, shortId } from './dom.js';

const STORAGE = {
  token: 'agentGateway.token',
  /** The session open last, reopened after a reload. */
  lastSession: 'agentGateway.lastSession',
  shells: 'agentGateway.shells',
};
/** How often the side panels ask REST for sessions, running runs and actors. */
const POLL_MS = 1000;
const SHELL_ROWS = 20;

const $ = (id) => document.getElementById(id);

function readJson(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? '') ?? fallback;
  } catch {
    return fallback;
  }
}

// ---- token -------------------------------------------------------------------------------

/** ?token= wins and is remembered, then taken out of the address bar (and out of history). */
function takeToken() {
  const params = new URLSearchParams(location.search);
  const given = params.get('token');
  if (given) {
    localStorage.setItem(STORAGE.token, given);
    params.delete('token');
    const query = params.toString();
    history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  }
  return localStorage.getItem(STORAGE.token) ?? '';
}

const token = takeToken();
$('token').value = token;
$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  localStorage.setItem(STORAGE.token, $('token').value.trim());
  location.reload();
});

function socketUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}${path}?token=${encodeURIComponent(token)}`;
}

function showBanner(text, kind = 'error') {
  const banner = $('banner');
  banner.textContent = text;
  banner.dataset.kind = kind;
  banner.hidden = false;
}

async function api(path, init = {}) {
  const response = await fetch(path, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
  });
  if (response.status === 401) {
    tokenRefused();
    throw Object.assign(new Error('unauthorized'), { status: 401 });
  }
  const body = response.status === 204 ? {} : await response.json().catch(() => ({}));
  if (!response.ok) {
    const code = typeof body.code === 'string' ? ` (${body.code})` : '';
    throw Object.assign(new Error(`${body.error ?? `HTTP ${response.status}`}${code}`), { status: response.status, code: body.code });
  }
  return body;
}

// ---- a refused token stops everything -----------------------------------------------------

const TOKEN_REFUSED = 'The gateway refused the token. Paste the token printed by "npm start" (or kept in data/token) at the top right.';
let tokenIsBad = false;

/** Retrying with a refused token cannot succeed: every socket stops and the page says why. */
function tokenRefused(text = TOKEN_REFUSED) {
  showBanner(text);
  if (tokenIsBad) return;
  tokenIsBad = true;
  chat.socket.fail(text);
  for (const { tab } of shells.values()) if (tab.status.state !== 'idle' && tab.status.state !== 'stopped') tab.socket.fail(text);
}

let probing = false;
/**
 * A browser hides a refused upgrade's HTTP status (the socket just closes, 1006), so a socket
 * that closes before it opened asks REST whether the token is the reason.
 */
async function probeToken() {
  if (probing || tokenIsBad) return;
  probing = true;
  try {
    await fetch('/api/config', { headers: { authorization: `Bearer ${token}` } }).then((response) => {
      if (response.status === 401) tokenRefused();
    });
  } catch {
    // The gateway is down: the backoff goes on.
  } finally {
    probing = false;
  }
}

function watchClose(close) {
  if (close.code === CLOSE_CODES.TOKEN_EXPIRED) tokenRefused(`${CLOSE.TOKEN_EXPIRED.reason}: paste a new token at the top right.`);
  else if (!close.opened) void probeToken();
}

// ---- status pills --------------------------------------------------------------------------

/** A close code as the gateway's table names it (`4401 Token expired`), else the number. */
function closeText(close) {
  const known = Object.values(CLOSE).find((entry) => entry.code === close.code && entry.reason !== '');
  const reason = close.reason || known?.reason || '';
  return reason ? `${close.code} ${reason}` : String(close.code);
}

function describeStatus(status, openText) {
  const wait = Math.max(0, status.retryAt - Date.now());
  const retry = `retry in ${(wait / 1000).toFixed(1)} s (attempt ${status.attempt + 1})`;
  switch (status.state) {
    case 'open':
      return openText;
    case 'connecting':
      return `connecting (attempt ${status.attempt})`;
    case 'offline':
      return `network down (simulated) · ${retry}`;
    case 'waiting':
      return `reconnecting · ${retry}${status.lastClose?.code ? ` · closed ${closeText(status.lastClose)}` : ''}`;
    case 'stopped':
      return 'detached';
    case 'failed':
      return `failed: ${status.error}`;
    default:
      return 'not connected';
  }
}

function renderChatStatus() {
  const status = chat.socket.status;
  const pill = $('chat-status');
  pill.dataset.state = status.state;
  pill.textContent = describeStatus(status, status.connects > 1 ? `connected (reconnects: ${status.connects - 1})` : 'connected');
  $('send').disabled = !selected || status.state !== 'open';
}

// ---- chat ----------------------------------------------------------------------------------

/** @type {Map<string, ChatView>} */
const views = new Map();
let selected = null;

function viewFor(sessionId) {
  let view = views.get(sessionId);
  if (!view) {
    view = new ChatView(sessionId, (requestId, allow) => chat.answerPermission(requestId, allow));
    views.set(sessionId, view);
  }
  return view;
}

const chat = new ChatClient({
  url: () => socketUrl('/ws'),
  onClose: watchClose,
  onEvent: (session, frame, origin) => viewFor(session.sessionId).render(frame, origin),
  onAck: (session, ack) => viewFor(session.sessionId).logFrame(ack, ack.gap ? 'gap' : 'ack'),
  onDuplicate: (session, frame) => viewFor(session.sessionId).logFrame(frame, 'duplicate'),
  onGatewayFrame(frame) {
    if (frame.kind !== 'protocol_error') return;
    const view = typeof frame.sessionId === 'string' ? views.get(frame.sessionId) : null;
    if (view) view.note(`${frame.code}: ${frame.error}`, 'error');
    else showBanner(`${frame.code}: ${frame.error}`);
  },
  onSessionChange(session) {
    viewFor(session.sessionId).syncPending(session);
    if (session.sessionId === selected) renderSelected();
  },
  onStatus: renderChatStatus,
});

const sessionList = new SessionList({
  list: $('sessions-list'),
  more: $('sessions-more'),
  api,
  onOpen: (sessionId) => void select(sessionId),
  onDeleted: forgetSession,
  onError: (text) => showBanner(text),
});

/** The latest select() asked for: an older one whose history arrives late does not take the view. */
let selecting = null;

/**
 * Opens a session: it must exist (GET its history over REST; 404 refuses a made-up id), its
 * history is drawn, then the socket subscribes after the last seq loaded.
 * @returns {Promise<boolean>} false when there is no such session
 */
async function select(sessionId) {
  selecting = sessionId;
  if (!chat.sessions.has(sessionId)) {
    let history;
    try {
      history = await loadHistory(api, sessionId);
    } catch (error) {
      if (error.status === 404) {
        if (selecting === sessionId) showBanner(`No session "${sessionId}" on this gateway (GET /api/providers/sessions/:id/messages answered 404).`, 'warn');
        if (localStorage.getItem(STORAGE.lastSession) === sessionId) localStorage.removeItem(STORAGE.lastSession);
      } else if (error.status !== 401) {
        showBanner(`Could not load session ${sessionId}: ${error.message}`);
      }
      return false;
    }
    // Another select() may have opened it while this one waited.
    if (!chat.sessions.has(sessionId)) chat.open(sessionId, history);
  }
  if (selecting !== sessionId) return true;
  show(sessionId);
  return true;
}

function show(sessionId) {
  selected = sessionId;
  localStorage.setItem(STORAGE.lastSession, sessionId);
  sessionList.select(sessionId);
  const view = viewFor(sessionId);
  $('transcripts').replaceChildren(view.transcript);
  $('frame-logs').replaceChildren(view.frameLog);
  view.scroll();
  const params = new URLSearchParams(location.search);
  params.set('session', sessionId);
  history.replaceState(null, '', `${location.pathname}?${params}`);
  $('open-tab').href = `/?session=${encodeURIComponent(sessionId)}`;
  $('open-tab').hidden = false;
  renderSelected();
  renderChatStatus();
}

/** A deleted session leaves the tab: unsubscribed, its view dropped, the panel emptied if shown. */
function forgetSession(sessionId) {
  chat.forget(sessionId);
  views.delete(sessionId);
  if (localStorage.getItem(STORAGE.lastSession) === sessionId) localStorage.removeItem(STORAGE.lastSession);
  if (selected !== sessionId) return;
  selected = null;
  $('chat-title').textContent = 'No session yet';
  $('chat-title').removeAttribute('title');
  $('run-state').hidden = true;
  $('open-tab').hidden = true;
  $('transcripts').replaceChildren(el('p', 'empty', 'The session was deleted. Create or open another (left).'));
  $('frame-logs').replaceChildren();
  $('unseen-notice').hidden = true;
  $('gap-notice').hidden = true;
  const params = new URLSearchParams(location.search);
  params.delete('session');
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}`);
  renderChatStatus();
}

function renderSelected() {
  const session = chat.sessions.get(selected);
  if (!session) return;
  $('chat-title').textContent = `Session ${shortId(selected)}`;
  $('chat-title').title = selected;
  const badge = $('run-state');
  badge.hidden = false;
  badge.textContent = session.running ? 'running' : 'idle';
  badge.dataset.state = session.running ? 'running' : 'idle';
  $('abort').disabled = !session.running;
  $('stat-last-seq').textContent = String(session.lastSeq);
  $('stat-history').textContent = String(session.stats.history);
  $('stat-live').textContent = String(session.stats.live);
  $('stat-replayed').textContent = String(session.stats.replayed);
  $('stat-duplicates').textContent = String(session.stats.duplicates);
  $('stat-gap').textContent = session.gap ? 'yes' : 'no';
  $('stat-gap').dataset.gap = session.gap ? 'yes' : 'no';
  $('stat-acks').textContent = String(session.acks);
  $('gap-notice').hidden = !session.gap;
  $('gap-text').textContent = session.gap ? `Events were lost: ${session.gap.reason} Reload the session to continue from what the gateway has.` : '';
  const unseen = $('unseen-notice');
  unseen.hidden = session.unseenBefore === 0;
  unseen.textContent = `Events up to seq ${session.unseenBefore} came after the history was loaded (GET …/messages): reload the page to see them. New runs show here live.`;
}

$('gap-reload').addEventListener('click', async () => {
  const session = chat.sessions.get(selected);
  if (!session) return;
  const sessionId = selected;
  let history;
  try {
    history = await loadHistory(api, sessionId);
  } catch (error) {
    showBanner(`Could not reload session ${sessionId}: ${error.message}`);
    return;
  }
  viewFor(sessionId).clear();
  chat.reload(session, history);
  renderSelected();
});

$('new-session').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const { sessionId } = await api('/api/providers/sessions', {
      method: 'POST',
      body: JSON.stringify({ provider: $('session-provider').value || 'demo', projectPath: $('session-path').value }),
    });
    await select(sessionId);
    void sessionList.refresh().catch(() => undefined);
    $('prompt').focus();
  } catch (error) {
    showBanner(`Could not create a session: ${error.message}`);
  }
});

$('open-session').addEventListener('submit', async (event) => {
  event.preventDefault();
  const id = $('open-id').value.trim();
  if (!id) return;
  // Cleared only when the id was a session: a typo stays in the field to be fixed.
  if (await select(id)) $('open-id').value = '';
});

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const content = $('prompt').value.trim();
  if (!selected || !content) return;
  if (!chat.sendPrompt(selected, content)) {
    showBanner('Not connected: the prompt was not sent. Wait for the connection to come back.', 'warn');
    return;
  }
  $('prompt').value = '';
});

$('prompt').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    $('composer').requestSubmit();
  }
});

$('abort').addEventListener('click', () => {
  if (selected) chat.abort(selected);
});

// ---- shells --------------------------------------------------------------------------------

/** @type {Map<string, { tab: ShellTab, view: HTMLElement }>} */
const shells = new Map();
let activeShell = null;

const shellId = (spec) => JSON.stringify([spec.name, spec.projectPath, spec.command]);

function terminalCols() {
  const canvas = document.createElement('canvas').getContext('2d');
  canvas.font = '13px ui-monospace, "DejaVu Sans Mono", Menlo, monospace';
  const charWidth = canvas.measureText('MMMMMMMMMM').width / 10 || 8;
  const width = $('shell-views').clientWidth - 32;
  return Math.max(40, Math.min(220, Math.floor(width / charWidth)));
}

function saveShells() {
  localStorage.setItem(STORAGE.shells, JSON.stringify([...shells.values()].map(({ tab }) => tab.spec)));
}

function shellStateText(tab) {
  if (tab.status.state === 'idle') return 'not attached';
  if (tab.status.state === 'failed') return `failed · ${tab.status.error}`;
  if (tab.status.state === 'stopped') return 'detached · the PTY keeps running';
  return describeStatus(tab.status, 'attached');
}

function addShell(spec) {
  const id = shellId(spec);
  const existing = shells.get(id);
  if (existing) return existing;
  const view = el('div', 'shell-view');
  view.dataset.shell = spec.name;
  const toolbar = el('div', 'shell-toolbar');
  const state = el('span', 'pill shell-state');
  const detach = el('button', 'detach', 'Detach');
  const reattach = el('button', 'reattach', 'Reattach');
  const forget = el('button', 'forget', 'Forget');
  for (const button of [detach, reattach, forget]) button.type = 'button';
  const where = el('span', 'where', `${spec.projectPath} · ${spec.command || 'bash'}`);
  const links = el('span', 'auth-urls');
  toolbar.append(state, detach, reattach, forget, where, links);
  const tab = new ShellTab({
    spec,
    url: () => socketUrl('/shell'),
    cols: terminalCols(),
    rows: SHELL_ROWS,
    onChange: () => renderShell(id),
    onClose: watchClose,
  });
  view.append(toolbar, tab.element);
  const entry = { tab, view, state, detach, reattach, links };
  shells.set(id, entry);
  detach.addEventListener('click', () => tab.detach());
  reattach.addEventListener('click', () => {
    tab.attach();
    tab.focus();
  });
  forget.addEventListener('click', () => {
    tab.dispose();
    view.remove();
    shells.delete(id);
    if (activeShell === id) activeShell = shells.keys().next().value ?? null;
    saveShells();
    renderShellTabs();
  });
  $('shell-views').querySelector('.empty')?.remove();
  $('shell-views').append(view);
  saveShells();
  renderShellTabs();
  return entry;
}

function showShell(id) {
  activeShell = id;
  renderShellTabs();
  const tab = shells.get(id)?.tab;
  // The screen is drawn at its full size at once (empty until attached), not as a thin strip
  // that grows on Reattach; xterm measures on mount, so only once the view is visible.
  tab?.mount();
  tab?.focus();
}

function renderShell(id) {
  const entry = shells.get(id);
  if (!entry) return;
  const { tab, state, detach, reattach, links } = entry;
  state.textContent = shellStateText(tab);
  state.dataset.state = tab.status.state;
  const live = !['idle', 'stopped', 'failed'].includes(tab.status.state);
  detach.disabled = !live;
  reattach.disabled = live;
  reattach.textContent = tab.status.state === 'failed' ? 'Retry' : 'Reattach';
  links.replaceChildren(...tab.authUrls.map((url) => Object.assign(el('a', '', 'login link'), { href: url, target: '_blank', rel: 'noopener noreferrer' })));
  const button = $('shell-tabs').querySelector(`[data-id="${CSS.escape(id)}"] .dot`);
  if (button) button.dataset.state = tab.status.state;
}

function renderShellTabs() {
  const bar = $('shell-tabs');
  bar.replaceChildren();
  for (const [id, { tab, view }] of shells) {
    const button = el('button', id === activeShell ? 'shell-tab active' : 'shell-tab');
    button.type = 'button';
    button.dataset.id = id;
    button.dataset.shell = tab.spec.name;
    const dot = el('span', 'dot');
    dot.dataset.state = tab.status.state;
    button.append(dot, tab.spec.name);
    button.addEventListener('click', () => showShell(id));
    bar.append(button);
    view.hidden = id !== activeShell;
    renderShell(id);
  }
}

$('new-shell').addEventListener('submit', (event) => {
  event.preventDefault();
  const spec = {
    name: $('shell-name').value.trim() || 'playground',
    projectPath: $('shell-path').value.trim(),
    command: $('shell-command').value.trim(),
  };
  const id = shellId(spec);
  const { tab } = addShell(spec);
  showShell(id);
  tab.attach();
  tab.focus();
});

// ---- drop connection -----------------------------------------------------------------------

$('drop').addEventListener('click', () => {
  const ms = Number($('drop-ms').value);
  chat.drop(ms);
  for (const { tab } of shells.values()) {
    if (!['idle', 'stopped', 'failed'].includes(tab.status.state)) tab.drop(ms);
  }
});

// ---- REST panels ---------------------------------------------------------------------------

function renderRunning(runs) {
  const list = $('running');
  list.replaceChildren();
  if (runs.length === 0) list.append(el('li', 'muted', 'none'));
  for (const run of runs) {
    const item = el('li');
    item.dataset.sessionId = run.sessionId;
    const open = el('button', 'link', shortId(run.sessionId));
    open.type = 'button';
    open.title = run.sessionId;
    open.addEventListener('click', () => select(run.sessionId));
    item.append(open, el('span', 'muted', ` ${run.provider} · seq ${run.lastSeq}`));
    list.append(item);
  }
}

function shellLabel(actor) {
  try {
    const [, path, name] = JSON.parse(actor.key);
    return { name: String(name), title: `${path}\n${actor.id}` };
  } catch {
    return { name: actor.id, title: actor.id };
  }
}

function renderActors({ chat: chatActors = [], shell: shellActors = [] }) {
  const chatBody = $('chat-actors').tBodies[0];
  chatBody.replaceChildren();
  for (const actor of chatActors) {
    const row = el('tr', actor.sessionId === selected ? 'selected' : '');
    row.dataset.sessionId = actor.sessionId;
    row.dataset.state = actor.state;
    const id = el('td', 'id', shortId(actor.sessionId));
    id.title = actor.sessionId;
    row.append(id, el('td', `state ${actor.state}`, actor.state), el('td', '', String(actor.seq)), el('td', '', String(actor.subscribers)));
    chatBody.append(row);
  }
  if (chatActors.length === 0) chatBody.append(Object.assign(el('tr'), { innerHTML: '<td colspan="4" class="muted">none live</td>' }));
  const shellBody = $('shell-actors').tBodies[0];
  shellBody.replaceChildren();
  for (const actor of shellActors) {
    const { name, title } = shellLabel(actor);
    const row = el('tr');
    row.dataset.shell = name;
    row.dataset.state = actor.state;
    const id = el('td', 'id', name);
    id.title = title;
    row.append(id, el('td', `state ${actor.state}`, actor.state + (actor.paused ? ' (paused)' : '')), el('td', '', String(actor.viewers)), el('td', '', actor.pid === null ? '–' : String(actor.pid)));
    shellBody.append(row);
  }
  if (shellActors.length === 0) shellBody.append(Object.assign(el('tr'), { innerHTML: '<td colspan="4" class="muted">none</td>' }));
}

async function poll() {
  if (tokenIsBad) return;
  try {
    const [runs, actors] = await Promise.all([api('/api/providers/sessions/running'), api('/api/actors'), sessionList.refresh()]);
    renderRunning(runs);
    renderActors(actors);
  } catch {
    // The banner tells about a bad token; a gateway that is down shows in the socket pills.
  }
}

// ---- start ---------------------------------------------------------------------------------

async function start() {
  if (!token) {
    showBanner('No access token yet. Open the "playground:" URL that "npm start" prints, or paste the token at the top right.', 'warn');
    $('token').focus();
    return;
  }
  try {
    const config = await api('/api/config');
    for (const id of ['session-path', 'shell-path']) if (!$(id).value) $(id).value = config.defaultProjectPath ?? '';
    if (Array.isArray(config.workspaceRoots)) $('workspace-roots').textContent = config.workspaceRoots.join(', ');
    // The demo first, then every ACP agent started with --agent (GET /api/config lists them).
    if (Array.isArray(config.providers)) $('session-provider').replaceChildren(...config.providers.map((name) => el('option', '', name)));
  } catch (error) {
    // A refused token: nothing would work (the banner says so); no socket keeps knocking.
    if (error.status === 401) return;
  }
  chat.start();
  const wanted = new URLSearchParams(location.search).get('session') ?? localStorage.getItem(STORAGE.lastSession);
  if (wanted) await select(wanted);
  for (const spec of readJson(STORAGE.shells, [])) addShell(spec);
  if (shells.size > 0) showShell(shells.keys().next().value);
  await poll();
  setInterval(poll, POLL_MS);
  // Countdowns in the status pills.
  setInterval(() => {
    renderChatStatus();
    for (const id of shells.keys()) renderShell(id);
  }, 250);
}

start();
