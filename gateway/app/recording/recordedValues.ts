/**
 * How recorded values are written into a scenario file (docs/SCENARIOS.md) so that replaying
 * them means exactly what happened:
 *
 * - every string is escaped for the runner's placeholders (`${` → `$${`), and strings inside
 *   expectations also for its matchers (a leading `$` is doubled);
 * - in expected frames, what the gateway makes up anew on every run is not pinned: `timestamp`
 *   and `id` are left out, `lastActivity` only has to be a string, and each `runId` becomes a
 *   `$var:runN` binding, so a replay must reuse one run id wherever the recording did.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON copy (drops functions and undefined, turns anything odd into its JSON form). */
export function toJson(value: unknown): JsonValue {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value)) as JsonValue;
  } catch {
    return String(value);
  }
}

const escapePlaceholders = (text: string): string => text.replaceAll('${', '$${');

/** A value the runner sends or emits as is: only placeholders are escaped. */
export function literal(value: JsonValue): JsonValue {
  if (typeof value === 'string') return escapePlaceholders(value);
  if (Array.isArray(value)) return value.map(literal);
  if (value && typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) out[key] = literal(item);
    return out;
  }
  return value;
}

/** A value the runner matches: placeholders escaped, and a leading `$` doubled so no string reads as a matcher. */
export function pattern(value: JsonValue): JsonValue {
  if (typeof value === 'string') {
    const escaped = escapePlaceholders(value);
    return escaped.startsWith('$') ? `$${escaped}` : escaped;
  }
  if (Array.isArray(value)) return value.map(pattern);
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    // An object whose only key looks like a matcher is pinned exactly instead.
    if (keys.length === 1 && keys[0].startsWith('$')) return { $exact: value };
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) out[key] = pattern(item);
    return out;
  }
  return value;
}

/** Gives each distinct run id a stable name (`run1`, `run2`, …) in order of first appearance. */
export class RunIdNames {
  private readonly names = new Map<string, string>();

  nameOf(runId: string): string {
    let name = this.names.get(runId);
    if (!name) {
      name = `run${this.names.size + 1}`;
      this.names.set(runId, name);
    }
    return name;
  }
}

/** One frame as a replay must see it again. */
export function expectedFrame(frame: JsonValue, runIds: RunIdNames): JsonValue {
  if (!frame || typeof frame !== 'object' || Array.isArray(frame)) return pattern(frame);
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(frame)) {
    if (key === 'timestamp' || key === 'id') continue;
    if (key === 'runId' && typeof value === 'string') {
      out.runId = `$var:${runIds.nameOf(value)}`;
      continue;
    }
    if (key === 'session' && value && typeof value === 'object' && !Array.isArray(value) && 'lastActivity' in value) {
      const session = pattern(value) as Record<string, JsonValue>;
      session.lastActivity = value.lastActivity === null ? null : { $type: 'string' };
      out.session = session;
      continue;
    }
    out[key] = pattern(value);
  }
  return out;
}
