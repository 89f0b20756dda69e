/**
 * Finds login URLs in a PTY's output so the browser can offer (or auto-open) them. One detector
 * per PTY, fed every chunk whether or not anyone is watching, so a URL printed while detached,
 * or wrapped across two chunks, is still found.
 *
 * Rules (PROTOCOL.md §3): ANSI stripped; a rolling window of the last N characters; `http(s)`
 * URLs, including URLs wrapped onto following lines; trailing punctuation trimmed; validated
 * with `URL`; each URL reported once, with `autoOpen: true` when the output asks for the browser.
 */
import type { AuthUrlNotice } from '../../machines/shellSession.machine.js';

// CSI, OSC (BEL or ST terminated), DCS/SOS/PM/APC strings, charset designations, other two-byte escapes.
const ANSI_SEQUENCE =
  /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[()*+\-./][ -~]|[ -/]*[0-~])/g;
const URL_START = /https?:\/\/[^\s<>"'`\\\x1b\x07]+/i;
const URL_ANYWHERE = /https?:\/\/[^\s<>"'`\\\x1b\x07]+/gi;
/** A whole line of these characters may be the rest of a URL the terminal wrapped. */
const URL_CONTINUATION = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
const TRAILING_PUNCTUATION = /[)\]}>.,;:!?]+$/;
const OPEN_URL_DIRECTIVE = /OPEN_URL:\s*(https?:\/\/[^\s\x1b\x07]+)/g;
const AUTO_OPEN_PHRASES = /browser didn't open|open this url|continue in your browser|press enter to open|open_url:/i;
const AUTO_OPEN_PHRASES_ALL = new RegExp(AUTO_OPEN_PHRASES.source, 'gi');
const URL_SCHEME = /https?:\/\//i;
/**
 * How far after an auto-open phrase its URL may start, when the two arrive in different chunks
 * ("Browser didn't open? Use the url below" and the URL itself are often separate PTY reads).
 */
const PHRASE_REACH_CHARS = 512;
/** Characters of earlier output re-examined with each chunk, so a phrase or `https://` split by a chunk boundary still counts. */
const CHUNK_OVERLAP_CHARS = 32;

export function stripAnsi(text: string): string {
  return text.replace(ANSI_SEQUENCE, '');
}

/** `OPEN_URL: <url>` in live output is shown as `[INFO] Opening in browser: <url>`. */
export function rewriteOpenUrl(chunk: string): string {
  if (!chunk.includes('OPEN_URL:')) return chunk;
  return chunk.replace(OPEN_URL_DIRECTIVE, '[INFO] Opening in browser: $1');
}

export function normalizeUrl(candidate: string): string | null {
  const cleaned = candidate.trim().replace(TRAILING_PUNCTUATION, '');
  if (!cleaned) return null;
  try {
    const url = new URL(cleaned);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : null;
  } catch {
    return null;
  }
}

export function asksToOpenBrowser(text: string): boolean {
  return AUTO_OPEN_PHRASES.test(text);
}

/** Where the last auto-open phrase in `text` ends, or -1. */
function lastPhraseEnd(text: string): number {
  let end = -1;
  for (const match of text.matchAll(AUTO_OPEN_PHRASES_ALL)) end = (match.index ?? 0) + match[0].length;
  return end;
}

interface Extraction {
  /** Raw candidates with where they start in the text. */
  candidates: Array<{ raw: string; at: number }>;
  /** The last non-blank line is (part of) a URL, so the next chunk may still extend it. */
  openAtEnd: boolean;
}

/** Every URL in `text`: the direct matches, and URLs ending a line joined with the continuation lines below them. */
export function extractUrls(text: string): Extraction {
  const candidates = [...text.matchAll(URL_ANYWHERE)].map((match) => ({ raw: match[0], at: match.index ?? 0 }));
  const lines = text.split(/\r?\n/);
  let lastNonBlank = lines.length - 1;
  while (lastNonBlank >= 0 && lines[lastNonBlank].trim() === '') lastNonBlank--;
  let openAtEnd = false;
  let offset = 0;
  const lineStarts = lines.map((line) => {
    const at = offset;
    offset += line.length + 1;
    return at;
  });
  for (let index = 0; index <= lastNonBlank; index++) {
    const line = lines[index].trim();
    const start = URL_START.exec(line);
    if (!start) continue;
    let combined = start[0];
    let last = index;
    // Only a URL that runs to the end of its line can have been wrapped onto the next one.
    if (start.index + combined.length === line.length) {
      while (last + 1 < lines.length) {
        const next = lines[last + 1].trim();
        // A line that starts its own URL is a second URL, not the rest of this one.
        if (!next || !URL_CONTINUATION.test(next) || URL_START.test(next)) break;
        combined += next;
        last++;
      }
      if (last >= lastNonBlank) openAtEnd = true;
    }
    if (last > index) candidates.push({ raw: combined, at: lineStarts[index] });
    index = last;
  }
  return { candidates, openAtEnd };
}

/**
 * Normalized, deduplicated URLs (each with its latest position), without URLs that are a prefix
 * of a longer one (the first part of a wrapped URL).
 */
export function completeUrls(candidates: Array<{ raw: string; at: number }>): Array<{ url: string; at: number }> {
  const latest = new Map<string, number>();
  for (const { raw, at } of candidates) {
    const url = normalizeUrl(raw);
    if (url !== null) latest.set(url, Math.max(at, latest.get(url) ?? -1));
  }
  const sorted = [...latest.keys()].sort();
  // Sorted, a prefix of any later string is also a prefix of its immediate successor.
  return sorted
    .filter((url, index) => !(index + 1 < sorted.length && sorted[index + 1].startsWith(url)))
    .map((url) => ({ url, at: latest.get(url)! }));
}

export interface AuthUrlDetector {
  /** Feeds one raw output chunk; returns the notices to send before that chunk's output frame. */
  feed(chunk: string): AuthUrlNotice[];
}

export function createAuthUrlDetector(windowChars: number): AuthUrlDetector {
  // The window is kept as the list of recent chunks and joined only when a scan needs it:
  // most output (a build log, `yes`) never contains a URL, and joining per chunk would copy
  // the whole window every time.
  let chunks: string[] = [];
  let head = 0;
  let total = 0;
  /** The last characters before the current chunk, to catch a phrase or scheme split by the boundary. */
  let tail = '';
  let openAtEnd = false;
  /** URL → whether it has been sent with `autoOpen: true`. Pruned to the URLs still in the window. */
  let announced = new Map<string, boolean>();

  const remember = (clean: string) => {
    chunks.push(clean);
    total += clean.length;
    while (head < chunks.length - 1 && total - chunks[head].length >= windowChars) {
      total -= chunks[head].length;
      // Let go of the chunk now, not at the next compaction: up to 1 024 dead chunks (megabytes
      // of output) kept alive there survived every scavenge and were promoted (bench: pty, RSS).
      chunks[head++] = '';
    }
    if (head > 1024 && head * 2 > chunks.length) {
      chunks = chunks.slice(head);
      head = 0;
    }
  };
  const windowText = () => {
    const text = chunks.slice(head).join('');
    return text.length > windowChars ? text.slice(text.length - windowChars) : text;
  };

  return {
    feed(chunk) {
      const clean = stripAnsi(chunk);
      if (!clean) return [];
      remember(clean);
      const boundary = tail + clean.slice(0, CHUNK_OVERLAP_CHARS);
      tail = (tail + clean.slice(-CHUNK_OVERLAP_CHARS)).slice(-CHUNK_OVERLAP_CHARS);
      const wantsBrowser = asksToOpenBrowser(clean) || asksToOpenBrowser(boundary);
      // Skip the scan unless this chunk could add, finish or auto-open a URL.
      if (!openAtEnd && !wantsBrowser && !URL_SCHEME.test(clean) && !URL_SCHEME.test(boundary)) return [];

      const text = windowText();
      const extraction = extractUrls(text);
      openAtEnd = extraction.openAtEnd;
      const found = completeUrls(extraction.candidates);
      // The browser is asked for the URL printed last: "press enter to open" follows its URL,
      // "browser didn't open? use the url below" precedes it in the same chunk.
      let best = wantsBrowser && found.length > 0 ? found.reduce((a, b) => (b.at > a.at ? b : a)).url : null;
      if (best === null) best = urlAskedForEarlier(text, found, announced);

      const notices: AuthUrlNotice[] = [];
      const next = new Map<string, boolean>();
      for (const { url } of found) {
        const autoOpened = announced.get(url);
        if (url === best && autoOpened !== true) {
          notices.push({ url, autoOpen: true });
          next.set(url, true);
        } else if (autoOpened === undefined) {
          notices.push({ url, autoOpen: false });
          next.set(url, false);
        } else {
          next.set(url, autoOpened);
        }
      }
      announced = next;
      return notices;
    },
  };
}

/**
 * The phrase came in an earlier chunk than its URL: the first URL starting soon after the last
 * phrase is the one asked for, unless it has been announced already (then the request was
 * answered, or it belonged to an older URL).
 */
function urlAskedForEarlier(
  text: string,
  found: Array<{ url: string; at: number }>,
  announced: ReadonlyMap<string, boolean>,
): string | null {
  const phraseEnd = lastPhraseEnd(text);
  if (phraseEnd < 0) return null;
  let first: { url: string; at: number } | null = null;
  for (const entry of found) {
    if (entry.at >= phraseEnd && entry.at - phraseEnd <= PHRASE_REACH_CHARS && (first === null || entry.at < first.at)) first = entry;
  }
  return first !== null && !announced.has(first.url) ? first.url : null;
}
