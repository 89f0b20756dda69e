/**
 * What a workload is and what it reports. Every figure is a set of repetitions of both sides,
 * measured interleaved in the same run; the ratio is gateway ÷ baseline of the medians, and the
 * per-repetition (paired) ratios give its spread.
 */
import type { SharedProcesses } from './processes.js';
import { spread, type Spread } from './stats.js';

export type Size = 'full' | 'quick' | 'tiny';

export interface BenchContext {
  size: Size;
  /** Recorded repetitions per side (a workload may use more for cheap trials). */
  reps: number;
  /** Write CPU profiles of the gateway process (node --cpu-prof) into this directory. */
  profileDir: string | null;
  /** Set in tiny runs: every workload reuses one set of processes (see processes.ts). */
  shared: SharedProcesses | null;
  log(line: string): void;
}

export interface Metric {
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  gateway: Spread;
  baseline: Spread;
  /** gateway median ÷ baseline median. */
  ratio: number;
  /** Spread of gateway[i] ÷ baseline[i] over repetitions. */
  pairedRatio: Spread;
  runs: { gateway: number[]; baseline: number[] };
}

export interface Check {
  target: string;
  /** null: reported only, no target. */
  met: boolean | null;
  detail: string;
}

export interface WorkloadResult {
  id: string;
  title: string;
  /** What the baseline column is. */
  baseline: string;
  params: Record<string, unknown>;
  metrics: Metric[];
  checks: Check[];
  notes: string[];
  /** Extra per-run figures worth keeping in latest.json. */
  extra?: Record<string, unknown>;
}

export interface Workload {
  id: string;
  title: string;
  /** One line for `npm run bench -- --list` and BENCHMARKS.md. */
  summary: string;
  run(ctx: BenchContext): Promise<WorkloadResult>;
}

export function metric(
  label: string,
  unit: string,
  better: 'higher' | 'lower',
  gateway: number[],
  baseline: number[],
): Metric {
  const g = spread(gateway);
  const b = spread(baseline);
  const paired = gateway.slice(0, Math.min(gateway.length, baseline.length)).map((value, i) => value / baseline[i]);
  return {
    label,
    unit,
    better,
    gateway: g,
    baseline: b,
    ratio: g.median / b.median,
    pairedRatio: spread(paired),
    runs: { gateway, baseline },
  };
}

export type Side = 'gateway' | 'baseline';

/**
 * Runs `trial` for both sides `reps` times, alternating which goes first (ABBA…) so slow drift of
 * a shared machine lands on both; an optional unrecorded warm-up round goes first.
 */
export async function interleave<T>(
  reps: number,
  trial: (side: Side, rep: number) => Promise<T>,
  options: { warmup?: boolean; log?: (line: string) => void; describe?: (side: Side, value: T) => string } = {},
): Promise<Record<Side, T[]>> {
  const results: Record<Side, T[]> = { gateway: [], baseline: [] };
  if (options.warmup) {
    await trial('gateway', -1);
    await trial('baseline', -1);
  }
  for (let rep = 0; rep < reps; rep++) {
    const order: Side[] = rep % 2 === 0 ? ['gateway', 'baseline'] : ['baseline', 'gateway'];
    for (const side of order) {
      const value = await trial(side, rep);
      results[side].push(value);
      if (options.log && options.describe) options.log(`    rep ${rep + 1} ${side.padEnd(8)} ${options.describe(side, value)}`);
    }
  }
  return results;
}
