/**
 * How much of a batch of PTY output a screen mirror may leave unparsed because none of it can
 * still be on the screen or in the scrollback once the batch is parsed.
 *
 * Why: a headless xterm spends nearly all of its time on line feeds (each one scrolls, and on a
 * full scrollback recycles a line), so output of many short lines (`yes`, `find /`, a chatty
 * build) parses slower than a PTY produces it (BENCHMARKS.md, pty). A mirror that falls behind
 * receives its backlog as one batch, and most of a long batch of plain lines only scrolls through.
 *
 * The rule, for a batch that starts with plain text (printable ASCII, TAB, CR, LF: characters
 * that only print, move the cursor right within its line, return it to column 0 or move it down)
 * while the parser is in its ground state and the scroll region is the whole screen:
 * cut at a CR that is followed, still inside the plain text, by at least `linesKept` line feeds,
 * where `linesKept` ≥ (screen rows + scrollback lines) + screen rows. Parsing the batch from that
 * CR leaves the terminal exactly as parsing all of it does:
 * - the CR puts the cursor at column 0 in both cases, so from there on the columns, the
 *   line wraps, and the joining state of printed characters evolve identically;
 * - nothing in plain text moves the cursor up, so at most `rows - 1` of those line feeds only move
 *   it down; the rest each append a fresh blank line (with the same erase colour: plain text sets
 *   no attributes). That is at least (rows + scrollback) appended lines: every line the buffer
 *   keeps was appended after the CR and written only by what follows it, and the cursor ends on
 *   the bottom row, in both cases;
 * - modes, attributes, charsets, tab stops and the parser's state are not changed by plain text.
 * What the mirror must check before cutting (parser state, scroll region, no open hyperlink) is
 * in screenMirror.ts; `spec/shellScrolledOutText.spec.ts` compares both parses on random streams.
 */

/** The first character that is not plain text (see above), or the batch's length. */
export function plainTextLength(data: string): number {
  const found = data.search(NOT_PLAIN);
  return found === -1 ? data.length : found;
}

/** Anything but TAB, LF, CR and printable ASCII. */
const NOT_PLAIN = /[^\t\n\r\x20-\x7e]/;

/**
 * Whether `pieces`, joined, hold at least `count` line feeds: a batch with fewer can never be cut,
 * and is handed over as it came, without joining it (counted from the end: a long batch answers early).
 */
export function holdsLineFeeds(pieces: readonly string[], count: number): boolean {
  let feeds = 0;
  for (let piece = pieces.length - 1; piece >= 0; piece--) {
    const text = pieces[piece];
    for (let at = text.lastIndexOf('\n'); at >= 0; at = at > 0 ? text.lastIndexOf('\n', at - 1) : -1) {
      if (++feeds >= count) return true;
    }
  }
  return false;
}

/** The CR before the `linesKept`-th line feed counted back from `end` (exclusive), or 0 for none. */
function cutBefore(data: string, end: number, linesKept: number): number {
  let at = end;
  for (let feeds = 0; feeds < linesKept; feeds++) {
    at = at > 0 ? data.lastIndexOf('\n', at - 1) : -1;
    if (at < 0) return 0;
  }
  return at > 0 ? Math.max(0, data.lastIndexOf('\r', at - 1)) : 0;
}

/**
 * The number of leading characters of `data` that may be left unparsed (0 when none may),
 * given that the batch starts with the parser in its ground state and the scroll region is the
 * whole screen. `linesKept` as above.
 */
export function scrolledOutLength(data: string, linesKept: number): number {
  // A batch too short to hold that many line feeds is never cut (the common case: a mirror that keeps up).
  if (data.length <= linesKept) return 0;
  // Line feeds are found by the engine's string search; the plain-text scan runs only if a cut may follow.
  const cut = cutBefore(data, data.length, linesKept);
  if (cut === 0) return 0;
  const plain = plainTextLength(data);
  return plain === data.length ? cut : cutBefore(data, plain, linesKept);
}
