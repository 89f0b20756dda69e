/**
 * Placeholders and durations. Any string of a step may contain `${name}` placeholders: `${dir}`
 * (the scenario's work directory), `${port}` (the gateway's port) and `${upstream.NAME.port}`.
 * `$${` writes a literal `${`.
 */
import type { Duration, JsonValue } from './format.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(value: Duration): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`a duration must be a number >= 0, got ${value}`);
    return value;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (!match) throw new Error(`a duration looks like 250, "250ms", "30s", "30m" or "1h"; got "${value}"`);
  return Math.round(Number(match[1]) * UNITS[match[2]]);
}

export function substitute<T extends JsonValue | undefined>(value: T, variables: Record<string, string>): T {
  if (typeof value === 'string') {
    return value.replace(/\$?\$\{([^}]+)\}/g, (whole, name: string) => {
      if (whole.startsWith('$$')) return whole.slice(1);
      if (!(name in variables)) throw new Error(`unknown placeholder \${${name}}`);
      return variables[name];
    }) as T;
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, variables)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) out[key] = substitute(item, variables);
    return out as T;
  }
  return value;
}
