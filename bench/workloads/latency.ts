/**
 * Latency: a paced stream of `rate` events/s for `seconds` to 100 subscribers. Each event carries
 * the time it was due on the producer's monotonic clock (the runtime "sent" it then: a server
 * whose event loop is busy reads it late, which counts), and the load generator subtracts that
 * from its own clock on receipt (the same system-wide clock). Percentiles are over every frame of
 * every subscriber of one repetition; the table shows their medians over repetitions.
 *
 * 100 subscribers × 1 000 events/s is 100 000 frames/s: on a small or shared machine that is
 * near what either server can push at all, so the figure there is mostly capacity. A second,
 * light case (10 subscribers) shows the latency each side adds when neither is saturated.
 */
import { startRig, type Rig } from '../lib/processes.js';
import type { LatencySummary } from '../lib/stats.js';
import { ALL_SIDES, aheadOfSocketIo, interleave, sideMetric, type BenchContext, type Check, type Metric, type Side, type Workload } from '../lib/workload.js';
import type { LoopDelay } from '../servers/relayApi.js';

interface LatencyCase {
  subscribers: number;
  rate: number;
  seconds: number;
}

const SIZES: Record<'full' | 'quick' | 'tiny', { main: LatencyCase; light: LatencyCase | null }> = {
  full: { main: { subscribers: 100, rate: 1000, seconds: 10 }, light: { subscribers: 10, rate: 1000, seconds: 5 } },
  quick: { main: { subscribers: 100, rate: 1000, seconds: 3 }, light: { subscribers: 10, rate: 1000, seconds: 2 } },
  tiny: { main: { subscribers: 5, rate: 200, seconds: 0.5 }, light: null },
};
const P99_ALLOWANCE_MS = 2;
const WARMUP_SECONDS = 1;

interface LatencyTrial extends LatencySummary {
  loopDelay: LoopDelay;
  /** Longer than planned: the server could not keep up with the rate. */
  streamSeconds: number;
}

async function measure(rig: Rig, side: Side, c: LatencyCase, seconds: number): Promise<LatencyTrial & { gaps: number; dups: number }> {
  const { server, info } = rig.relay(side);
  const { sessionIds } = await server.call('createSessions', { count: 1 });
  const [sessionId] = sessionIds;
  await rig.load.call('openChat', {
    port: info.port,
    protocol: info.protocol,
    targets: Array.from({ length: c.subscribers }, () => ({ sessionId, lastSeq: 0 })),
    concurrency: 100,
    timeoutMs: 30_000,
  });
  const expected = Math.ceil(c.rate * seconds);
  await rig.load.call('arm', { perClient: expected, latencySamples: expected * c.subscribers });
  await server.call('watchLoop', null);
  server.call('startStream', { sessionIds, ratePerSecond: c.rate, durationMs: seconds * 1000 });
  const produced = await server.call('awaitStream', null, seconds * 4000 + 60_000);
  const loopDelay = await server.call('stopWatchLoop', null);
  const totals = await rig.load.call('awaitSeqs', { lastSeqs: produced.lastSeqs, timeoutMs: 60_000 });
  const summary = await rig.load.call('latency', null);
  await rig.load.call('closeChat', null);
  await server.call('finishSessions', { sessionIds });
  return { ...summary, loopDelay, streamSeconds: (produced.endUs - produced.startUs) / 1e6, gaps: totals.gaps, dups: totals.dups };
}

export const latency: Workload = {
  id: 'latency',
  title: 'Send → receive latency',
  summary: '1 000 events/s for 10 s to 100 subscribers; p50 / p99 / max from runtime send to client receive',
  async run(ctx: BenchContext) {
    const { main, light } = SIZES[ctx.size];
    const rig = await startRig(ctx, 'latency', ALL_SIDES, { loadOwnCpu: true });
    let gaps = 0;
    let dups = 0;
    const metrics: Metric[] = [];
    const checks: Check[] = [];
    const extra: Record<string, unknown> = {};
    try {
      for (const c of light ? [main, light] : [main]) {
        const label = `${c.subscribers} subscribers × ${c.rate} events/s`;
        ctx.log(`  ${label}, ${c.seconds} s`);
        const runs = await interleave(
          ctx.reps,
          async (side, rep) => {
            const result = await measure(rig, side, c, rep < 0 ? Math.min(WARMUP_SECONDS, c.seconds) : c.seconds);
            gaps += result.gaps;
            dups += result.dups;
            return result;
          },
          {
            sides: ALL_SIDES,
            warmup: c === main,
            log: ctx.log,
            describe: (_s, v) =>
              `p50 ${v.p50.toFixed(2)} ms, p99 ${v.p99.toFixed(2)} ms, max ${v.max.toFixed(1)} ms (${v.count} frames, stream took ${v.streamSeconds.toFixed(1)} s); server loop delay p99 ${v.loopDelay.p99Ms.toFixed(1)} ms, max ${v.loopDelay.maxMs.toFixed(1)} ms`,
          },
        );
        const pick = (key: 'p50' | 'p99' | 'max') => sideMetric(`${key}, ${label}`, 'ms', 'lower', runs, (r) => r[key]);
        const caseMetrics = [pick('p50'), pick('p99'), pick('max')];
        caseMetrics.push(
          sideMetric(`server event-loop delay p99, ${label}`, 'ms', 'lower', runs, (r) => r.loopDelay.p99Ms),
          sideMetric(`stream duration (planned ${c.seconds} s), ${label}`, 's', 'lower', runs, (r) => r.streamSeconds),
        );
        metrics.push(...caseMetrics);
        const p99 = caseMetrics[1];
        const excess = p99.gateway.median - p99.baseline.median;
        checks.push({
          target: `p99 ≤ bare p99 + ${P99_ALLOWANCE_MS} ms (${label})`,
          met: excess <= P99_ALLOWANCE_MS,
          detail: `gateway p99 ${p99.gateway.median.toFixed(2)} ms vs bare ${p99.baseline.median.toFixed(2)} ms (${excess >= 0 ? '+' : ''}${excess.toFixed(2)} ms)`,
        });
        extra[label] = { frames: { gateway: runs.gateway.map((r) => r.count), baseline: runs.baseline.map((r) => r.count) } };
      }
    } finally {
      await rig.stop();
    }
    checks.push({ target: 'every frame delivered once, in order', met: gaps === 0 && dups === 0, detail: `${gaps} gaps, ${dups} duplicates` });
    const vsSocketIo = aheadOfSocketIo(metrics.filter((m) => /^p(50|99), /.test(m.label)));
    if (vsSocketIo) checks.push({ ...vsSocketIo, target: 'ahead of socket.io on p50 and p99' });
    return {
      id: latency.id,
      title: latency.title,
      baseline: 'corked bare ws relay',
      params: { main, light },
      metrics,
      checks,
      notes: [],
      extra,
    };
  },
};
