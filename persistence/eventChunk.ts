/**
 * The row format of the chat log: one row of `chat_event_chunks` holds a run of a session's
 * consecutive events written in one batch (seqs `first_seq..last_seq`, no hole), not one row per
 * event. A token stream appends ~100 events per event-loop turn; as rows, each cost a B-tree insert
 * and, once the session is full, a B-tree delete (~7 µs per event here); as one chunk they cost
 * ~1 µs (`bench/hotPath.ts`, BENCHMARKS.md). Frames stay byte-exact: `json` is their texts
 * concatenated, cut apart again by the lengths in `index`.
 *
 * `index` is JSON: `l` the UTF-16 length of each frame's text (absent for a one-event chunk),
 * `k`, `r`, `a` the events' kinds, run ids and append times run-length encoded as `[value, count]`
 * pairs (a stream's events share them).
 */
import type { LoggedEvent } from './types.js';

/**
 * A chunk closes once it holds this many events, or its frames reach `CHUNK_MAX_BYTES` UTF-8
 * bytes (a larger single frame is a chunk of its own). A read decodes whole chunks: with chunks
 * of up to 1 MiB (thousands of deltas from one burst), each 256-event catch-up step of a replay
 * read and decoded the same chunk again, 4.8 MB of text to replay 5 000 events (~10 ms of the
 * replay's ~30; bench replay). At 128 events a step decodes at most a chunk's worth more than it
 * needs, and a burst of 100 deltas per turn is still one row.
 */
export const CHUNK_MAX_EVENTS = 128;
export const CHUNK_MAX_BYTES = 256 * 1024;

export interface EncodedChunk {
  firstSeq: number;
  lastSeq: number;
  count: number;
  /** UTF-8 bytes of the frames' texts, what `maxBytesPerSession` bounds. */
  bytes: number;
  index: string;
  json: string;
}

interface ChunkIndex {
  l?: number[];
  k: Array<[string, number]>;
  r: Array<[string, number]>;
  a: Array<[number, number]>;
}

function runLength<T>(start: number, end: number, pick: (event: number) => T): Array<[T, number]> {
  const out: Array<[T, number]> = [];
  for (let i = start; i < end; i++) {
    const value = pick(i);
    const last = out.length > 0 ? out[out.length - 1] : undefined;
    if (last !== undefined && last[0] === value) last[1]++;
    else out.push([value, 1]);
  }
  return out;
}

/** Encodes `events[start..end)`, consecutive seqs of one session, with their UTF-8 sizes `sizes[start..end)`. */
export function encodeChunk(events: readonly LoggedEvent[], sizes: readonly number[], start: number, end: number): EncodedChunk {
  const count = end - start;
  let bytes = 0;
  for (let i = start; i < end; i++) bytes += sizes[i];
  const index: ChunkIndex = {
    k: runLength(start, end, (i) => events[i].kind),
    r: runLength(start, end, (i) => events[i].runId),
    a: runLength(start, end, (i) => events[i].at),
  };
  let json: string;
  if (count === 1) json = events[start].json;
  else {
    const lengths = new Array<number>(count);
    const texts = new Array<string>(count);
    for (let i = start; i < end; i++) {
      lengths[i - start] = events[i].json.length;
      texts[i - start] = events[i].json;
    }
    index.l = lengths;
    json = texts.join('');
  }
  return { firstSeq: events[start].seq, lastSeq: events[end - 1].seq, count, bytes, index: JSON.stringify(index), json };
}

/** Thrown for a row this code cannot read back: never guessed around, since a wrong frame is worse than none. */
export class CorruptChunkError extends Error {
  constructor(sessionId: string, firstSeq: number, reason: string) {
    super(`chat_event_chunks row (${sessionId}, ${firstSeq}) is unreadable: ${reason}`);
    this.name = 'CorruptChunkError';
  }
}

function expand<T>(pairs: unknown, count: number, isValue: (value: unknown) => value is T, fail: (reason: string) => never): T[] {
  if (!Array.isArray(pairs)) fail('index run list missing');
  const out: T[] = [];
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2 || !isValue(pair[0]) || !Number.isInteger(pair[1]) || pair[1] < 1) fail('bad index run');
    for (let n = 0; n < pair[1]; n++) out.push(pair[0]);
  }
  if (out.length !== count) fail('index runs do not match the event count');
  return out;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** The events of one row, seq `firstSeq` onwards, each with its frame text exactly as appended. */
export function decodeChunk(sessionId: string, firstSeq: number, lastSeq: number, index: string, json: string): LoggedEvent[] {
  const fail = (reason: string): never => {
    throw new CorruptChunkError(sessionId, firstSeq, reason);
  };
  const count = lastSeq - firstSeq + 1;
  let parsed: ChunkIndex;
  try {
    parsed = JSON.parse(index) as ChunkIndex;
  } catch {
    return fail('index is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object') fail('index is not an object');
  const kinds = expand(parsed.k, count, isString, fail);
  const runIds = expand(parsed.r, count, isString, fail);
  const ats = expand(parsed.a, count, isFiniteNumber, fail);
  const events = new Array<LoggedEvent>(count);
  if (count === 1) {
    events[0] = { sessionId, seq: firstSeq, runId: runIds[0], kind: kinds[0], json, at: ats[0] };
    return events;
  }
  const lengths = parsed.l;
  if (!Array.isArray(lengths) || lengths.length !== count) fail('frame lengths missing');
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const length = (lengths as unknown[])[i];
    if (!Number.isInteger(length) || (length as number) < 0) fail('bad frame length');
    const end = offset + (length as number);
    if (end > json.length) fail('frame lengths exceed the text');
    events[i] = { sessionId, seq: firstSeq + i, runId: runIds[i], kind: kinds[i], json: json.slice(offset, end), at: ats[i] };
    offset = end;
  }
  if (offset !== json.length) fail('frame lengths do not cover the text');
  return events;
}
