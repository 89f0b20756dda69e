/**
 * Shapes of Redis replies that several parts read. ioredis hands replies of `call`, scripts and
 * pipelines over as `unknown` (or as an object for HGETALL); they are read defensively here.
 */

/** A hash as ioredis returns it: `HGETALL` gives an object, a script a flat [field, value, …] array. */
export function hashFields(raw: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const value: unknown = raw[i + 1];
      if (typeof value === 'string') fields[String(raw[i])] = value;
    }
  } else if (raw !== null && typeof raw === 'object') {
    for (const [name, value] of Object.entries(raw as Record<string, unknown>)) if (typeof value === 'string') fields[name] = value;
  }
  return fields;
}
