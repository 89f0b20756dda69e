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

/**
 * Where a trial runs. `baseline` is the bare `ws` relay that corks each socket for the rest of
 * the event-loop turn, as the gateway does: the physical limit of the transport, and what every
 * ratio divides by. The peers are measured in the same run and shown beside it: the same relay
 * without the cork (what bare `ws` does by default), and socket.io 4.8 with
 * `connectionStateRecovery` (a room per session, the same frames).
 */
export type Peer = 'uncorked' | 'socketio';
export type Side = 'gateway' | 'baseline' | Peer;
export const PEERS: readonly Peer[] = ['uncorked', 'socketio'];
export const PEER_LABELS: Record<Peer, string> = { uncorked: 'uncorked bare', socketio: 'socket.io' };
/**
 * What most chat workloads run: the gateway, the corked bare relay and both peers
 * (`BENCH_PEERS=none` or `=socketio` runs fewer, to try a change faster; published runs use all).
 */
export const ALL_SIDES: readonly Side[] = [
  'gateway',
  'baseline',
  ...PEERS.filter((peer) => !process.env.BENCH_PEERS || process.env.BENCH_PEERS.split(',').includes(peer)),
];

export interface PeerFigure {
  spread: Spread;
  /** gateway median ÷ this peer's median. */
  ratio: number;
  runs: number[];
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
  /** The same figure on the peers that ran it. */
  peers?: Partial<Record<Peer, PeerFigure>>;
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
  peers: Partial<Record<Peer, number[]>> = {},
): Metric {
  const g = spread(gateway);
  const b = spread(baseline);
  const paired = gateway.slice(0, Math.min(gateway.length, baseline.length)).map((value, i) => value / baseline[i]);
  const figures: Partial<Record<Peer, PeerFigure>> = {};
  for (const peer of PEERS) {
    const runs = peers[peer];
    if (!runs || runs.length === 0) continue;
    const p = spread(runs);
    figures[peer] = { spread: p, ratio: g.median / p.median, runs };
  }
  return {
    label,
    unit,
    better,
    gateway: g,
    baseline: b,
    ratio: g.median / b.median,
    pairedRatio: spread(paired),
    runs: { gateway, baseline },
    ...(Object.keys(figures).length > 0 ? { peers: figures } : {}),
  };
}

/** A metric from the trials of every side that ran (`interleave`'s result), one figure per trial. */
export function sideMetric<T>(
  label: string,
  unit: string,
  better: 'higher' | 'lower',
  runs: Record<Side, T[]>,
  pick: (trial: T) => number,
): Metric {
  const peers: Partial<Record<Peer, number[]>> = {};
  for (const peer of PEERS) if (runs[peer].length > 0) peers[peer] = runs[peer].map(pick);
  return metric(label, unit, better, runs.gateway.map(pick), runs.baseline.map(pick), peers);
}

/** Whether the gateway's median is ahead of (or level with) a peer's on this metric. */
export const aheadOf = (m: Metric, peer: Peer): boolean | null => {
  const figure = m.peers?.[peer];
  if (!figure) return null;
  return m.better === 'higher' ? m.gateway.median >= figure.spread.median : m.gateway.median <= figure.spread.median;
};

/** A check that the gateway is ahead of socket.io on each of `metrics` that measured it. */
export function aheadOfSocketIo(metrics: readonly Metric[]): Check | null {
  const measured = metrics.filter((m) => m.peers?.socketio);
  if (measured.length === 0) return null;
  const behind = measured.filter((m) => aheadOf(m, 'socketio') === false);
  return {
    target: 'ahead of socket.io on every figure',
    met: behind.length === 0,
    detail: behind.length === 0
      ? `${measured.length} of ${measured.length} figures`
      : `behind on ${behind.map((m) => `${m.label} (${m.gateway.median.toPrecision(3)} vs ${m.peers!.socketio!.spread.median.toPrecision(3)} ${m.unit})`).join('; ')}`,
  };
}

/**
 * Unrecorded warm-up rounds per side before the first repetition. After one round the gateway was
 * not at its steady state yet: its first recorded fan-out repetition (1 subscriber) was its slowest
 * in every run (24.0 / 20.0 / 16.4 and 27.3 / 22.1 / 16.7 µs of CPU per event over reps 1–3; 19.2,
 * then 8.7–15.8 over eight), and after two rounds it was not (15.5 / 15.6 / 14.8 / 14.4). Every
 * side gets the same rounds.
 */
const WARMUP_ROUNDS = 2;

/**
 * Runs `trial` for every side `reps` times, reversing the order every repetition (ABBA…, ABCDDCBA…)
 * so slow drift of a shared machine lands on all; optional unrecorded warm-up rounds go first.
 */
export async function interleave<T>(
  reps: number,
  trial: (side: Side, rep: number) => Promise<T>,
  options: {
    warmup?: boolean;
    log?: (line: string) => void;
    describe?: (side: Side, value: T) => string;
    /** The sides to run (default: gateway and baseline); the order reverses every repetition. */
    sides?: readonly Side[];
  } = {},
): Promise<Record<Side, T[]>> {
  const results: Record<Side, T[]> = { gateway: [], baseline: [], uncorked: [], socketio: [] };
  const sides = options.sides ?? ['gateway', 'baseline'];
  if (options.warmup) {
    for (let round = 0; round < WARMUP_ROUNDS; round++) for (const side of sides) await trial(side, -1);
  }
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? [...sides] : [...sides].reverse();
    for (const side of order) {
      const value = await trial(side, rep);
      results[side].push(value);
      if (options.log && options.describe) options.log(`    rep ${rep + 1} ${side.padEnd(8)} ${options.describe(side, value)}`);
    }
  }
  return results;
}
