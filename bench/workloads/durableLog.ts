/**
 * Durable log: appends of real frames (~230 B) to the gateway's SQLite event log, against bare
 * better-sqlite3 inserting the same events as one row each (the textbook table, and the gateway's
 * own before it stored chunks) with the same pragmas. Three
 * shapes: a burst over 20 sessions (batches of `logBatchMaxEvents`, nothing pruned), one
 * session pruned to its default 5 000 events as it grows, and a token-stream pace of 10 appends
 * per event-loop turn (one transaction per turn).
 */
import { DEFAULT_LIMITS } from '../../gateway/config.js';
import { profileFlags, startChild } from '../lib/processes.js';
import { interleave, metric, type BenchContext, type Metric, type Workload } from '../lib/workload.js';
import type { LogBenchApi, LogTrialParams, LogTrialResult } from '../servers/logBench.js';

const TARGET_EVENTS_PER_SECOND = 100_000;

const SIZES = {
  full: { burst: 100_000, pruned: 100_000, perTurn: 20_000 },
  quick: { burst: 50_000, pruned: 50_000, perTurn: 10_000 },
  tiny: { burst: 2_000, pruned: 6_000, perTurn: 500 },
} as const;

export const durableLog: Workload = {
  id: 'log',
  title: 'Durable event log',
  summary: 'events/s appended to the SQLite log (batched) and bytes on disk per event, vs bare better-sqlite3',
  async run(ctx: BenchContext) {
    const size = SIZES[ctx.size];
    const bench = startChild<LogBenchApi>(ctx, '../servers/logBench.ts', { label: 'log bench', nodeFlags: profileFlags(ctx, 'log') });
    const shapes: Array<{ label: string; params: LogTrialParams }> = [
      { label: `burst, ${size.burst} events over 20 sessions`, params: { events: size.burst, sessions: 20, perTurn: 0, maxEventsPerSession: DEFAULT_LIMITS.maxEventsPerSession } },
      { label: `burst, ${size.pruned} events, 1 session pruned to 5000`, params: { events: size.pruned, sessions: 1, perTurn: 0, maxEventsPerSession: DEFAULT_LIMITS.maxEventsPerSession } },
      { label: `10 appends per turn, ${size.perTurn} events`, params: { events: size.perTurn, sessions: 1, perTurn: 10, maxEventsPerSession: DEFAULT_LIMITS.maxEventsPerSession } },
    ];
    const metrics: Metric[] = [];
    let headline: Record<'gateway' | 'baseline', LogTrialResult[]> | null = null;
    try {
      for (const shape of shapes) {
        ctx.log(`  ${shape.label}`);
        const runs = await interleave(
          Math.max(ctx.reps, 3),
          (side) => bench.call(side === 'gateway' ? 'gateway' : 'bare', shape.params),
          { warmup: shape === shapes[0], log: ctx.log, describe: (_s, v) => `${Math.round(v.eventsPerSecond)} events/s, ${v.bytesOnDiskPerEvent.toFixed(0)} B/event on disk` },
        );
        headline ??= runs;
        metrics.push(metric(shape.label, 'events/s', 'higher', runs.gateway.map((r) => r.eventsPerSecond), runs.baseline.map((r) => r.eventsPerSecond)));
      }
    } finally {
      await bench.stop();
    }
    const runs = headline!;
    const disk = metric('bytes on disk per event (20 sessions)', 'B', 'lower', runs.gateway.map((r) => r.bytesOnDiskPerEvent), runs.baseline.map((r) => r.bytesOnDiskPerEvent));
    metrics.push(disk);
    const rate = metrics[0].gateway.median;
    return {
      id: durableLog.id,
      title: durableLog.title,
      baseline: 'bare better-sqlite3, a row per event, same pragmas, one transaction per batch',
      params: {
        frameBytes: Math.round(runs.gateway[0].frameBytes),
        batchMaxEvents: DEFAULT_LIMITS.logBatchMaxEvents,
        maxEventsPerSession: DEFAULT_LIMITS.maxEventsPerSession,
      },
      metrics,
      checks: [
        { target: `≥ ${TARGET_EVENTS_PER_SECOND.toLocaleString('en-US')} events/s (burst)`, met: rate >= TARGET_EVENTS_PER_SECOND, detail: `${Math.round(rate).toLocaleString('en-US')} events/s` },
        { target: 'bytes on disk per event', met: null, detail: `${disk.gateway.median.toFixed(0)} B per ${Math.round(runs.gateway[0].frameBytes)} B frame` },
      ],
      notes: [
        `A crash loses at most the batch in flight (up to ${DEFAULT_LIMITS.logBatchMaxEvents} events, or one event-loop turn of them), and no client has seen those: frames wait for their write.`,
      ],
    };
  },
};
