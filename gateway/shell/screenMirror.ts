/**
 * A headless xterm fed everything a PTY prints, so a viewer who attaches later gets the screen
 * (scrollback, cursor, alternate screen, modes) instead of a replay of the whole session:
 * restore costs the size of the screen, not the length of the session (VS Code's XtermSerializer).
 *
 * xterm parses asynchronously. `write(data, parsed)` calls `parsed` once that chunk is parsed,
 * and `whenParsed(fn)` runs `fn` after everything written so far; both keep write order, which
 * is what makes the restore seam exact.
 */
import xtermHeadless from '@xterm/headless';
import serializeAddon from '@xterm/addon-serialize';

/** Full reset (RIS): the client's terminal forgets its stale screen, scrollback and modes. */
const FULL_RESET = '\x1bc';
/** Scrolls the banner line (written on row 1 after the reset) into scrollback and homes the cursor. */
const PUSH_BANNER_TO_SCROLLBACK = '\x1b[9999;1H\n\x1b[H';

export interface ScreenMirrorOptions {
  cols: number;
  rows: number;
  scrollback: number;
  /** Cells a restore serializes at most; scrollback beyond it (oldest first) is left out. */
  restoreMaxCells: number;
}

export interface ScreenMirror {
  write(data: string, parsed?: () => void): void;
  whenParsed(fn: () => void): void;
  /** Resizes after everything written so far is parsed, as the PTY's output was meant for the old size. */
  resize(cols: number, rows: number): void;
  /**
   * The one `output` payload that repaints a client terminal as this one: a full reset, the
   * banner kept as the top line of scrollback, then the serialized state. Call from `whenParsed`.
   */
  restorePayload(banner: string): string;
  /** The serialized state alone (screen, scrollback, modes), for `restoreFrame`. Call from `whenParsed`. */
  serializeState(): string;
  dispose(): void;
}

/** Internals the serialize addon does not cover; read defensively since they are not public API. */
interface TerminalInternals {
  _core?: {
    coreService?: { isCursorHidden?: boolean };
    coreMouseService?: { activeEncoding?: string };
    buffer?: { scrollTop?: number; scrollBottom?: number };
  };
}

/** The restore payload from a banner and a serialized state (see `ScreenMirror.restorePayload`). */
export function restoreFrame(banner: string, state: string): string {
  return FULL_RESET + (banner ? banner + PUSH_BANNER_TO_SCROLLBACK : '') + state;
}

export function createScreenMirror(options: ScreenMirrorOptions): ScreenMirror {
  const terminal = new xtermHeadless.Terminal({
    cols: options.cols,
    rows: options.rows,
    scrollback: options.scrollback,
    allowProposedApi: true,
  });
  const serializer = new serializeAddon.SerializeAddon();
  terminal.loadAddon(serializer);
  let disposed = false;

  /** Scroll region, mouse encoding and cursor visibility: state a full-screen TUI relies on. */
  const stateBeyondSerializer = (): string => {
    const core = (terminal as unknown as TerminalInternals)._core;
    let extra = '';
    const encoding = core?.coreMouseService?.activeEncoding;
    if (encoding === 'SGR') extra += '\x1b[?1006h';
    else if (encoding === 'SGR_PIXELS') extra += '\x1b[?1016h';
    const top = core?.buffer?.scrollTop;
    const bottom = core?.buffer?.scrollBottom;
    const active = terminal.buffer.active;
    const origin = terminal.modes.originMode;
    if (typeof top === 'number' && typeof bottom === 'number' && (top !== 0 || bottom !== terminal.rows - 1 || origin)) {
      // DECSTBM homes the cursor, so the cursor is put back afterwards (relative to the region in origin mode).
      const row = active.cursorY - (origin ? top : 0) + 1;
      extra += `\x1b[${top + 1};${bottom + 1}r\x1b[${row};${active.cursorX + 1}H`;
    }
    if (core?.coreService?.isCursorHidden) extra += '\x1b[?25l';
    return extra;
  };

  return {
    write(data, parsed) {
      if (disposed) return;
      terminal.write(data, parsed);
    },
    whenParsed(fn) {
      if (disposed) return;
      // A callback queued before dispose() can still fire after it: a disposed terminal must not
      // be serialized (xterm's addon store is gone: "add a disposable to a disposed store").
      terminal.write('', () => {
        if (!disposed) fn();
      });
    },
    resize(cols, rows) {
      this.whenParsed(() => {
        if (!disposed) terminal.resize(cols, rows);
      });
    },
    restorePayload(banner) {
      return restoreFrame(banner, this.serializeState());
    },
    serializeState() {
      const scrollback = Math.max(0, Math.floor(options.restoreMaxCells / terminal.cols) - terminal.rows);
      return serializer.serialize({ scrollback }) + stateBeyondSerializer();
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      terminal.dispose();
    },
  };
}
