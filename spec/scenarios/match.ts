/**
 * Partial matching of received frames against expected ones (docs/SCENARIOS.md, "Matching").
 *
 * - Objects match partially: every expected key must match, other keys are ignored; `timestamp`
 *   and `id` are therefore ignored unless the expectation names them.
 * - `seq` is matched exactly: a received frame that carries a numeric `seq` only matches an
 *   expectation that states it (a number, or a matcher such as `"$var:n"`).
 * - Arrays match element by element and must have the same length.
 * - Matchers: `"$any"`, `"$absent"`, `"$var:NAME"` (binds on first use, must be equal after),
 *   `{ "$contains" }`, `{ "$startsWith" }`, `{ "$regex" }`, `{ "$type" }`, `{ "$oneOf" }`,
 *   `{ "$exact" }`, `{ "$not" }`, `{ "$gte" }`, `{ "$lte" }`. `"$$x"` is the literal string `"$x"`.
 */
import { isDeepStrictEqual } from 'node:util';

import type { JsonValue } from './format.js';

export interface Mismatch {
  /** Where in the frame, e.g. `content` or `session.summary`. Empty for the whole frame. */
  path: string;
  message: string;
}

/** Values bound by `"$var:NAME"` matchers; shared by a whole scenario run. */
export type Bindings = Map<string, unknown>;

const MATCHER_KEYS = new Set(['$contains', '$startsWith', '$regex', '$type', '$oneOf', '$exact', '$not', '$gte', '$lte']);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const show = (value: unknown): string => (value === undefined ? 'nothing' : JSON.stringify(value));

const join = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function matchMatcher(expected: Record<string, unknown>, actual: unknown, path: string, bindings: Bindings): Mismatch | null {
  const [key] = Object.keys(expected);
  const operand = expected[key];
  const fail = (message: string): Mismatch => ({ path, message });
  switch (key) {
    case '$contains':
      return typeof actual === 'string' && actual.includes(String(operand))
        ? null
        : fail(`expected a string containing ${show(operand)}, got ${show(actual)}`);
    case '$startsWith':
      return typeof actual === 'string' && actual.startsWith(String(operand))
        ? null
        : fail(`expected a string starting with ${show(operand)}, got ${show(actual)}`);
    case '$regex':
      return typeof actual === 'string' && new RegExp(String(operand)).test(actual)
        ? null
        : fail(`expected a string matching /${String(operand)}/, got ${show(actual)}`);
    case '$type':
      return typeOf(actual) === operand ? null : fail(`expected a ${String(operand)}, got ${show(actual)}`);
    case '$oneOf': {
      const options = Array.isArray(operand) ? operand : [];
      for (const option of options) if (matchValue(option as JsonValue, actual, path, bindings) === null) return null;
      return fail(`expected one of ${show(operand)}, got ${show(actual)}`);
    }
    case '$exact':
      return isDeepStrictEqual(operand, actual) ? null : fail(`expected exactly ${show(operand)}, got ${show(actual)}`);
    case '$not':
      return matchValue(operand as JsonValue, actual, path, new Map(bindings)) === null
        ? fail(`expected anything but ${show(operand)}, got ${show(actual)}`)
        : null;
    case '$gte':
      return typeof actual === 'number' && actual >= Number(operand) ? null : fail(`expected a number >= ${show(operand)}, got ${show(actual)}`);
    case '$lte':
      return typeof actual === 'number' && actual <= Number(operand) ? null : fail(`expected a number <= ${show(operand)}, got ${show(actual)}`);
    default:
      return fail(`unknown matcher ${key}`);
  }
}

function matchString(expected: string, actual: unknown, path: string, bindings: Bindings): Mismatch | null {
  if (expected === '$any') return actual === undefined ? { path, message: 'expected a value, got nothing' } : null;
  if (expected === '$absent') return actual === undefined ? null : { path, message: `expected nothing, got ${show(actual)}` };
  if (expected.startsWith('$var:')) {
    const name = expected.slice('$var:'.length);
    if (actual === undefined) return { path, message: `expected a value for ${expected}, got nothing` };
    if (!bindings.has(name)) {
      bindings.set(name, actual);
      return null;
    }
    const bound = bindings.get(name);
    return isDeepStrictEqual(bound, actual) ? null : { path, message: `${expected} is ${show(bound)}, got ${show(actual)}` };
  }
  const literal = expected.startsWith('$$') ? expected.slice(1) : expected;
  return actual === literal ? null : { path, message: `expected ${show(literal)}, got ${show(actual)}` };
}

export function matchValue(expected: JsonValue, actual: unknown, path: string, bindings: Bindings): Mismatch | null {
  if (typeof expected === 'string') return matchString(expected, actual, path, bindings);
  if (expected === null || typeof expected !== 'object') {
    return actual === expected ? null : { path, message: `expected ${show(expected)}, got ${show(actual)}` };
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return { path, message: `expected an array, got ${show(actual)}` };
    if (actual.length !== expected.length) {
      return { path, message: `expected ${expected.length} element(s), got ${actual.length}` };
    }
    for (let i = 0; i < expected.length; i++) {
      const mismatch = matchValue(expected[i], actual[i], join(path, i), bindings);
      if (mismatch) return mismatch;
    }
    return null;
  }
  const keys = Object.keys(expected);
  if (keys.length === 1 && MATCHER_KEYS.has(keys[0])) return matchMatcher(expected, actual, path, bindings);
  if (!isRecord(actual)) return { path, message: `expected an object, got ${show(actual)}` };
  for (const key of keys) {
    const mismatch = matchValue(expected[key], actual[key], join(path, key), bindings);
    if (mismatch) return mismatch;
  }
  return null;
}

/** Matches one received frame: partial, with the exact-`seq` rule at the frame's top level. */
export function matchFrame(expected: JsonValue, actual: unknown, bindings: Bindings): Mismatch | null {
  if (isRecord(actual) && typeof actual.seq === 'number' && isRecord(expected) && !('seq' in expected)) {
    const keys = Object.keys(expected);
    const isMatcher = keys.length === 1 && MATCHER_KEYS.has(keys[0]);
    if (!isMatcher) return { path: 'seq', message: `the frame carries seq ${actual.seq}: the expectation must state it` };
  }
  // Bindings made by a frame that does not match are not kept.
  const trial = new Map(bindings);
  const mismatch = matchValue(expected, actual, '', trial);
  if (mismatch) return mismatch;
  for (const [name, value] of trial) bindings.set(name, value);
  return null;
}

/** Expands `{ "$repeat": n, "frame": {...}, "seqFrom": k }` entries into n frames (seq k, k+1, …). */
export function expandFrames(frames: JsonValue[]): JsonValue[] {
  const out: JsonValue[] = [];
  for (const entry of frames) {
    if (isRecord(entry) && typeof entry.$repeat === 'number') {
      const template = (entry.frame ?? {}) as JsonValue;
      const seqFrom = typeof entry.seqFrom === 'number' ? entry.seqFrom : null;
      for (let i = 0; i < entry.$repeat; i++) {
        out.push(seqFrom === null || !isRecord(template) ? template : { ...template, seq: seqFrom + i });
      }
      continue;
    }
    out.push(entry);
  }
  return out;
}

/** Two pretty-printed JSON columns, expected on the left, actual on the right. */
export function sideBySide(expected: unknown, actual: unknown): string {
  const left = (expected === undefined ? '(nothing)' : JSON.stringify(expected, null, 2)).split('\n');
  const right = (actual === undefined ? '(nothing)' : JSON.stringify(actual, null, 2)).split('\n');
  const clip = (line: string, width: number) => (line.length > width ? `${line.slice(0, width - 1)}…` : line);
  const width = Math.min(70, Math.max(8, ...left.map((line) => line.length)));
  const rows = [`${'expected'.padEnd(width)} │ actual`, `${'─'.repeat(width)}─┼─${'─'.repeat(width)}`];
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    rows.push(`${clip(left[i] ?? '', width).padEnd(width)} │ ${clip(right[i] ?? '', 100)}`);
  }
  return rows.join('\n');
}
