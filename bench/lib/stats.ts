/** Order statistics over repetitions and samples. Inputs are never mutated. */

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return { median: quantileSorted(sorted, 0.5), min: sorted[0], max: sorted[sorted.length - 1], n: sorted.length };
}

/** Linear-interpolated quantile of an ascending array (works on typed arrays too). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const position = (n - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.min(n - 1, lower + 1);
  const weight = position - lower;
  return sorted[lower] * (1 - weight) + sorted[upper] * weight;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Summarises `count` samples held in `samples` (sorted in place: pass a scratch buffer). */
export function summarizeLatency(samples: Float64Array, count: number): LatencySummary {
  const view = samples.subarray(0, count).sort();
  return { count, p50: quantileSorted(view, 0.5), p99: quantileSorted(view, 0.99), max: count ? view[count - 1] : Number.NaN };
}
