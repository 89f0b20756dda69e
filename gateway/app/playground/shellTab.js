// One terminal of the playground: an xterm.js screen on a /shell socket (docs/SHELL.md). Every
// (re)connect sends the same `init`, so the gateway attaches it to the same PTY and repaints the
// screen (its restore frame starts with a full reset). Detach closes the socket on purpose:
// the PTY keeps running until the gateway's detach timeout. An `error` frame before any output
// means the gateway refused the `init` (a path outside the workspace, too many terminals): the
// tab fails (no retry loop, nothing shown as attached) and says why.
import { Terminal } from '/vendor/xterm/xterm.mjs';

import { PROJECT_PATH_ERRORS } from './codes.js';
import { ReconnectingSocket } from './socket.js';

/** What a refused init says: the cause behind a project-path code, else the gateway's message. */
export function describeShellError(frame) {
  const message = String(frame?.message ?? 'error');
  const cause = typeof frame?.code === 'string' && Object.hasOwn(PROJECT_PATH_ERRORS, frame.code) ? PROJECT_PATH_ERRORS[frame.code] : null;
  return cause ? `${message}: ${cause} (${frame.code})` : message;
}

const THEME = { background: '#0f1419', foreground: '#d7dde4', cursor: '#f0c674', selectionBackground: '#2d4a63' };

export class ShellTab {
  /**
   * @param {object} options
   * @param {{ name: string, projectPath: string, command: string }} options.spec
   * @param {() => string} options.url
   * @param {number} options.cols
   * @param {number} options.rows
   * @param {(tab: ShellTab) => void} options.onChange
   * @param {(close: object) => void} [options.onClose]  closes the page did not ask for (socket.js)
   */
  constructor(options) {
    this.spec = options.spec;
    this.cols = options.cols;
    this.rows = options.rows;
    this.onChange = options.onChange;
    this.authUrls = [];
    this.error = null;
    /** True once output arrived on the current socket: an error before that is a refused init. */
    this.started = false;
    this.element = document.createElement('div');
    this.element.className = 'terminal-host';
    this.element.dataset.shell = this.spec.name;
    this.terminal = null;
    this.socket = new ReconnectingSocket({
      url: options.url,
      onOpen: () => this.sendInit(),
      onMessage: (text) => this.receive(text),
      onStatus: () => this.onChange(this),
      onClose: options.onClose,
    });
  }

  get status() {
    return this.socket.status;
  }

  /** Creates the screen on first use (xterm needs its element in the document to measure). */
  mount() {
    if (this.terminal) return;
    this.terminal = new Terminal({
      cols: this.cols,
      rows: this.rows,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace',
      fontSize: 13,
      scrollback: 1000,
      theme: THEME,
    });
    this.terminal.open(this.element);
    this.terminal.onData((data) => this.socket.send({ type: 'input', data }));
  }

  attach() {
    this.mount();
    this.error = null;
    this.socket.start();
  }

  get failed() {
    return this.socket.status.state === 'failed';
  }

  detach() {
    this.socket.stop('detached');
  }

  drop(ms) {
    this.socket.drop(ms);
  }

  focus() {
    this.terminal?.focus();
  }

  dispose() {
    this.socket.stop('closed');
    this.terminal?.dispose();
    this.element.remove();
  }

  sendInit() {
    this.started = false;
    this.socket.send({
      type: 'init',
      projectPath: this.spec.projectPath,
      sessionId: this.spec.name,
      hasSession: false,
      provider: 'plain-shell',
      cols: this.cols,
      rows: this.rows,
      initialCommand: this.spec.command,
      isPlainShell: true,
    });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame?.type) {
      case 'output':
        this.started = true;
        this.terminal.write(String(frame.data ?? ''));
        break;
      case 'auth_url':
        if (typeof frame.url === 'string' && !this.authUrls.includes(frame.url)) this.authUrls.push(frame.url);
        this.onChange(this);
        break;
      case 'error':
        this.error = describeShellError(frame);
        this.terminal.write(`\r\n\x1b[31m${this.error}\x1b[0m\r\n`);
        // Refused before it started: retrying the same init would be refused again.
        if (!this.started) this.socket.fail(this.error);
        this.onChange(this);
        break;
    }
  }
}
