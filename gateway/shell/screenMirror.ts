/**
 * A headless xterm fed everything a PTY prints, so a viewer who attaches later gets the screen
 * (scrollback, cursor, alternate screen, modes) instead of a replay of the whole session:
 * restore costs the size of the screen, not the length of the session (VS Code's XtermSerializer).
 *
 * xterm parses asynchronously. `write(data, parsed)` calls `parsed` once that chunk is parsed,
 * and `whenParsed(fn)` runs `fn` after everything written so far and before anything written
 * later; both keep write order, which is what makes the restore seam exact.
 *
 * The terminal parses one batch at a time: what is written while it parses waits, and goes in
 * as the next batch, up to the next `whenParsed` (which must see the state at exactly its point).
 * A mirror that falls behind thus gets its backlog in one piece, and a batch of plain lines that
 * only scroll through is cut to the lines that stay (scrolledOutText.ts): the mirror catches up
 * instead of bounding the stream (BENCHMARKS.md, pty).
 */
import xtermHeadless from '@xterm/headless';
import serializeAddon from '@xterm/addon-serialize';

import { holdsLineFeeds, scrolledOutLength } from './scrolledOutText.js';

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
  /**
   * false: parse every character, even output that scrolls out of the scrollback within one batch
   * (the reference `spec/shellScrolledOutText.spec.ts` compares against). Default true.
   */
  skipScrolledOut?: boolean;
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
  /** Characters left unparsed so far because they scrolled out within their batch (scrolledOutText.ts). */
  readonly skippedChars: number;
}

/** Internals the serialize addon does not cover; read defensively since they are not public API. */
interface TerminalInternals {
  _core?: {
    coreService?: { isCursorHidden?: boolean };
    coreMouseService?: { activeEncoding?: string };
    buffer?: { scrollTop?: number; scrollBottom?: number };
    _inputHandler?: {
      _parser?: { currentState?: number };
      _parseStack?: { paused?: boolean };
      _curAttrData?: { extended?: { urlId?: number } };
    };
  };
}

/** The parser's ground state (xterm's `ParserState.GROUND`): not inside an escape sequence or string. */
const PARSER_GROUND = 0;
/**
 * Characters handed to xterm per `write` call once a batch is joined to be cut: xterm yields to
 * the event loop between calls (every ~12 ms), never inside one.
 */
const PARSE_SLICE_CHARS = 64 * 1024;

/** A write waiting for its batch, or a `whenParsed` that ends one. */
type Pending = { data: string; parsed?: () => void } | { barrier: () => void };

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

  /**
   * Whether a batch may be cut (see scrolledOutText.ts): everything before it is parsed (it is
   * called between batches), the parser is not inside a sequence, the scroll region is the whole
   * screen, and no hyperlink is open (its link service records every line printed on). Any
   * internal that is not there as expected means no: the batch is parsed whole.
   */
  const mayCut = (): boolean => {
    const core = (terminal as unknown as TerminalInternals)._core;
    const input = core?._inputHandler;
    return (
      input?._parser?.currentState === PARSER_GROUND &&
      input._parseStack?.paused === false &&
      input._curAttrData?.extended?.urlId === 0 &&
      core?.buffer?.scrollTop === 0 &&
      core.buffer.scrollBottom === terminal.rows - 1
    );
  };
  const skipScrolledOut = options.skipScrolledOut ?? true;
  let skippedChars = 0;
  /** Written, not yet handed to the terminal; bounded by the PTY's flow control (the backlog it counts). */
  let pending: Pending[] = [];
  let parsing = false;

  /** Hands the terminal the writes up to the next barrier, as one batch. */
  const parseNext = (): void => {
    let end = 0;
    while (end < pending.length && !('barrier' in pending[end])) end++;
    const batch = pending.splice(0, end) as { data: string; parsed?: () => void }[];
    const pieces = batch.map((entry) => entry.data);
    const linesKept = 2 * terminal.rows + options.scrollback;
    let slices = pieces;
    if (skipScrolledOut && holdsLineFeeds(pieces, linesKept) && mayCut()) {
      let data = pieces.length === 1 ? pieces[0] : pieces.join('');
      const cut = scrolledOutLength(data, linesKept);
      if (cut > 0) {
        skippedChars += cut;
        data = data.slice(cut);
      }
      slices = [];
      for (let start = 0; start < data.length; start += PARSE_SLICE_CHARS) slices.push(data.slice(start, start + PARSE_SLICE_CHARS));
    }
    parsing = true;
    for (let index = 0; index < slices.length - 1; index++) terminal.write(slices[index]);
    terminal.write(slices.length > 0 ? slices[slices.length - 1] : '', () => {
      for (const entry of batch) {
        if (disposed) return;
        entry.parsed?.();
      }
      // Barriers see the state as of their point: nothing written after them is parsed yet.
      while (!disposed && pending.length > 0 && 'barrier' in pending[0]) (pending.shift() as { barrier: () => void }).barrier();
      parsing = false;
      if (!disposed && pending.length > 0) parseNext();
    });
  };

  const enqueue = (entry: Pending) => {
    pending.push(entry);
    // A barrier with nothing before it still goes through the terminal (an empty batch), so its
    // function runs later, never inside the caller's own call, as xterm's callbacks always have.
    if (!parsing) parseNext();
  };

  return {
    write(data, parsed) {
      if (disposed) return;
      enqueue({ data, parsed });
    },
    whenParsed(fn) {
      if (disposed) return;
      enqueue({ barrier: fn });
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
      pending = [];
      terminal.dispose();
    },
    get skippedChars() {
      return skippedChars;
    },
  };
}
