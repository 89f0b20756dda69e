/**
 * What the fuzzers throw at the gateway, as fast-check arbitraries. Field values are built as
 * JSON *text*, not objects, so keys such as `__proto__` survive, nesting can go deeper than
 * JSON.stringify allows, and duplicate keys are possible: the gateway sees exactly these bytes.
 */
import fc from 'fast-check';

export interface WireFrame {
  /** A string is sent as UTF-8 text; a Buffer as raw bytes (text frame when `binary` is false). */
  data: string | Buffer;
  binary: boolean;
}

/** The ws server's inbound frame limit (DEFAULT_LIMITS.maxPayloadBytes). */
export const MAX_FRAME_BYTES = 1024 * 1024;

const text = (data: string): WireFrame => ({ data, binary: false });

/** A JSON object text from [key, value-text] pairs; pairs may repeat keys. */
export function objectText(fields: ReadonlyArray<readonly [string, string] | null>): string {
  return `{${fields
    .filter((field): field is readonly [string, string] => field !== null)
    .map(([key, value]) => `${JSON.stringify(key)}:${value}`)
    .join(',')}}`;
}

const DANGEROUS_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'then'];

const oddScalar = fc.constantFrom(
  'null', 'true', 'false', '0', '-0', '-1', '1.5', '1e308', '-1e308', '1e-7', '9007199254740993',
  '[]', '{}', '""', '" "', '"\\u0000"', '"\\ud800"', '"\\ufeff"', '"NaN"', '"Infinity"', '[null]', '[[]]',
);

/** Nested arrays or objects, up to 100 000 levels (JSON.parse copes; a recursive walk would not). */
export const deepJson: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 30, max: 50_000 }), fc.boolean())
  .map(([depth, arrays]) => (arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));

/** Long strings, ASCII or 2-byte UTF-8, up to ~600 KB on the wire. */
export const hugeStringJson: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 1_000, max: 200_000 }), fc.constantFrom('x', '\u00e9', '"', '\\'))
  .map(([length, unit]) => JSON.stringify(unit.repeat(length)));

const smallJson: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify(value) ?? 'null'),
  oddScalar,
);

/** Objects whose keys are the ones prototype pollution and careless lookups trip on. */
export const protoObjectJson: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '{"__proto__":null}',
    '{"__proto__":[]}',
    '{"__proto__":{"__proto__":{"polluted":true}}}',
  ),
  fc.array(fc.tuple(fc.constantFrom(...DANGEROUS_KEYS), smallJson), { maxLength: 4 }).map((pairs) => objectText(pairs)),
);

/** Any JSON value text, weighted towards the troublesome ones. */
export const weirdJson: fc.Arbitrary<string> = fc.oneof(
  { weight: 30, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value) ?? 'null') },
  { weight: 15, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((value) => JSON.stringify(value)) },
  { weight: 15, arbitrary: oddScalar },
  { weight: 10, arbitrary: protoObjectJson },
  // Big values are rare per field (a frame has several fields), so most frames stay small and fast.
  { weight: 1, arbitrary: hugeStringJson },
  { weight: 1, arbitrary: deepJson },
);

/** A field that is sometimes absent, sometimes right, sometimes anything. */
function field(key: string, right: fc.Arbitrary<string>): fc.Arbitrary<readonly [string, string] | null> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 5, arbitrary: right.map((value) => [key, value] as const) },
    { weight: 2, arbitrary: weirdJson.map((value) => [key, value] as const) },
  );
}

/** Right type name, or one that almost is. */
function typeField(type: string): fc.Arbitrary<readonly [string, string] | null> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant(['type', JSON.stringify(type)] as const) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(type.toUpperCase(), ` ${type}`, `${type} `, `${type}\u0000`, type.replace('.', '_'), type.slice(0, -1))
        .map((near) => ['type', JSON.stringify(near)] as const),
    },
    { weight: 1, arbitrary: weirdJson.map((value) => ['type', value] as const) },
  );
}

const junkFields = fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(...DANGEROUS_KEYS)), smallJson), { maxLength: 3 });

/** A near-miss frame: the right `type` and the right field names, with values of any shape, in any order. */
function nearMiss(
  type: string,
  fields: Array<fc.Arbitrary<readonly [string, string] | null>>,
): fc.Arbitrary<string> {
  return fc
    .tuple(typeField(type), fc.tuple(...fields), junkFields, fc.boolean())
    .map(([typePair, values, junk, typeLast]) => {
      const pairs = [...values, ...junk];
      return objectText(typeLast ? [...pairs, typePair] : [typePair, ...pairs]);
    });
}

// ---- /ws ----

export interface ChatFuzzIds {
  /** Ids with no row in the session store (and no run). */
  pool: readonly string[];
  /** A session with a run in progress and a pending permission request. */
  real: string;
  realRequestId: string;
}

const SESSION_ID_ODDITIES = [
  '', '   ', '__proto__', 'constructor', 'toString', 'hasOwnProperty', "' OR 1=1 --", '"; DROP TABLE chat_events; --',
  '../../../etc/passwd', '%2e%2e%2f', 'a'.repeat(257), '\u00e9'.repeat(200), '\u0000', 'x\ny',
];

function sessionIdJson(ids: ChatFuzzIds, includeReal: boolean): fc.Arbitrary<string> {
  const known = includeReal ? [...ids.pool, ids.real] : [...ids.pool];
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...ids.pool).map((id) => JSON.stringify(id)) },
    { weight: includeReal ? 3 : 0, arbitrary: fc.constant(JSON.stringify(ids.real)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(' ', '\t', '\n', '\u00a0', '\ufeff', ''), fc.constantFrom(...known), fc.constantFrom(' ', '\r\n', ''))
        .map(([before, id, after]) => JSON.stringify(before + id + after)),
    },
    { weight: 2, arbitrary: fc.constantFrom(...SESSION_ID_ODDITIES).map((id) => JSON.stringify(id)) },
    { weight: 1, arbitrary: weirdJson },
  );
}

const lastSeqJson: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -3, max: 12 }).map(String) },
  { weight: 2, arbitrary: fc.constantFrom('0', '-0', '1.5', '2.9999', '1e300', '-1e300', '9007199254740993', '"3"', 'null', 'true', '[]', '{}', '1e-7') },
  { weight: 1, arbitrary: weirdJson },
);

/** A chat.subscribe whose one entry is repeated thousands of times (the amplification probe). */
function repeatedEntries(ids: ChatFuzzIds): fc.Arbitrary<string> {
  return fc
    .tuple(fc.integer({ min: 2, max: 12_000 }), fc.constantFrom(ids.real, ...ids.pool), fc.integer({ min: -1, max: 12 }))
    .map(([count, id, lastSeq]) => `[${Array(count).fill(objectText([['sessionId', JSON.stringify(id)], ['lastSeq', String(lastSeq)]])).join(',')}]`);
}

/** An object-ish option value: pollution keys, small values, and now and then a very deep one. */
const structured = fc.oneof(
  { weight: 8, arbitrary: protoObjectJson },
  { weight: 8, arbitrary: smallJson },
  { weight: 1, arbitrary: deepJson },
);

export function chatNearMissFrame(ids: ChatFuzzIds): fc.Arbitrary<string> {
  const entry = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(field('sessionId', sessionIdJson(ids, true)), field('lastSeq', lastSeqJson)).map((pairs) => objectText(pairs)) },
    { weight: 1, arbitrary: sessionIdJson(ids, true) },
    { weight: 1, arbitrary: weirdJson },
  );
  const entries = fc.oneof(
    { weight: 40, arbitrary: fc.array(entry, { maxLength: 6 }).map((items) => `[${items.join(',')}]`) },
    { weight: 1, arbitrary: repeatedEntries(ids) },
  );
  const unsubscribeEntries = fc
    .array(fc.oneof(sessionIdJson(ids, true), fc.tuple(field('sessionId', sessionIdJson(ids, true))).map((pairs) => objectText(pairs)), weirdJson), { maxLength: 4 })
    .map((items) => `[${items.join(',')}]`);
  const requestId = fc.oneof(
    { weight: 3, arbitrary: fc.constant(JSON.stringify(ids.realRequestId)) },
    { weight: 2, arbitrary: fc.string({ maxLength: 12 }).map((id) => JSON.stringify(id)) },
  );
  return fc.oneof(
    nearMiss('chat.send', [
      field('sessionId', sessionIdJson(ids, true)),
      field('content', fc.string({ unit: 'binary', maxLength: 60 }).map((s) => JSON.stringify(s))),
      field('options', structured),
    ]),
    nearMiss('chat.abort', [field('sessionId', sessionIdJson(ids, false))]),
    nearMiss('chat.subscribe', [field('sessions', entries)]),
    nearMiss('chat.unsubscribe', [field('sessions', unsubscribeEntries)]),
    nearMiss('chat.permission-response', [
      field('requestId', requestId),
      field('allow', fc.constantFrom('true', 'false', '"true"', '1')),
      field('updatedInput', structured),
      field('message', fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s))),
      field('rememberEntry', smallJson),
    ]),
  );
}

// ---- frames any route gets ----

/** Bytes that are not valid UTF-8 (a stray continuation byte, an overlong form, a lone 0xff…). */
const invalidUtf8 = fc
  .tuple(fc.uint8Array({ maxLength: 64 }), fc.constantFrom([0xff], [0xc0, 0x80], [0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]))
  .map(([body, bad]) => Buffer.concat([Buffer.from(body), Buffer.from(bad)]));

/** Frames shared by every route, given the route's own near-miss frames. */
export function frameArbitrary(nearMissText: fc.Arbitrary<string>): fc.Arbitrary<WireFrame> {
  return fc.oneof(
    { weight: 180, arbitrary: nearMissText.map(text) },
    { weight: 36, arbitrary: fc.jsonValue().map((value) => text(JSON.stringify(value) ?? 'null')) },
    { weight: 24, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map(text) },
    { weight: 18, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((bytes) => ({ data: Buffer.from(bytes), binary: true })) },
    { weight: 18, arbitrary: nearMissText.map((json) => ({ data: Buffer.from(json, 'utf8'), binary: true })) },
    { weight: 3, arbitrary: invalidUtf8.map((bytes) => ({ data: bytes, binary: false })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 * 1024 }).map((extra) => text('x'.repeat(MAX_FRAME_BYTES + extra))) },
  );
}

// ---- /shell ----

export interface ShellFuzzPaths {
  /** Paths that must be accepted (inside the workspace root, directories). */
  valid: readonly string[];
  /** Paths that must be refused (outside, escaping, files, missing, malformed). */
  invalid: readonly string[];
}

export function shellNearMissFrame(paths: ShellFuzzPaths): fc.Arbitrary<string> {
  const path = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...paths.valid).map((p) => JSON.stringify(p)) },
    { weight: 4, arbitrary: fc.constantFrom(...paths.invalid).map((p) => JSON.stringify(p)) },
    { weight: 1, arbitrary: weirdJson },
  );
  const sessionId = fc.oneof(
    fc.constantFrom('ok-id_1.2:3', 'bad id', 'x;rm -rf /', '$(id)', '`id`', '', 'a'.repeat(300), '../x', 'é').map((s) => JSON.stringify(s)),
    weirdJson,
  );
  const provider = fc.oneof(fc.constantFrom('claude', 'cursor', 'codex', 'opencode', 'plain-shell', '').map((s) => JSON.stringify(s)), weirdJson);
  const bool = fc.oneof(fc.constantFrom('true', 'false'), weirdJson);
  const dimension = fc.oneof(fc.constantFrom('-1', '0', '1', '80', '1000', '1001', '1e9', '1.5', '"80"', 'null'), weirdJson);
  return fc.oneof(
    {
      weight: 2,
      arbitrary: nearMiss('init', [
        field('projectPath', path),
        field('sessionId', sessionId),
        field('hasSession', bool),
        field('provider', provider),
        field('initialCommand', weirdJson),
        field('isPlainShell', bool),
        field('forceRestart', bool),
        field('cols', dimension),
        field('rows', dimension),
      ]),
    },
    { weight: 6, arbitrary: nearMiss('input', [field('data', fc.string({ unit: 'binary', maxLength: 80 }).map((s) => JSON.stringify(s)))]) },
    { weight: 3, arbitrary: nearMiss('resize', [field('cols', dimension), field('rows', dimension)]) },
  );
}

// ---- /plugin-ws ----

export const pluginFrame: fc.Arbitrary<WireFrame> = fc.oneof(
  { weight: 90, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }).map(text) },
  { weight: 45, arbitrary: fc.jsonValue().map((value) => text(JSON.stringify(value) ?? 'null')) },
  { weight: 45, arbitrary: fc.uint8Array({ maxLength: 4096 }).map((bytes) => ({ data: Buffer.from(bytes), binary: true })) },
  { weight: 3, arbitrary: hugeStringJson.map(text) },
  { weight: 6, arbitrary: fc.constantFrom('', ' ', '\u0000').map(text) },
  { weight: 3, arbitrary: invalidUtf8.map((bytes) => ({ data: bytes, binary: false })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 * 1024 }).map((extra) => ({ data: Buffer.alloc(MAX_FRAME_BYTES + extra, 7), binary: true })) },
);
