/**
 * Scale: what an event and a socket cost as the work grows. Two series, each point a paced
 * stream of `rate` events/s in all, round-robin over the runs, to sockets spread evenly over the
 * runs' sessions (every socket subscribed to one):
 *
 * - sockets: 1 000, 5 000 and 10 000 sockets over 100 runs (10, 50, 100 subscribers per event);
 * - runs: 10, 100 and 1 000 concurrently streaming runs, one socket each (one frame per event).
 *
 * Per point: server CPU per event and per delivered frame over the stream, RSS and heap per
 * socket (settled, after full GCs, before and after the sockets connect), and p99 from runtime
 * send to client receive. Growth is linear or better when the CPU per frame and the heap per
 * socket do not rise with the sockets, and the CPU per event does not rise with the runs; the
 * largest point whose p99 stays under 50 ms is reported.
 * The corked bare relay runs the same points for reference (fresh processes per workload, both
 * with --expose-gc). Every loop is bounded; 10 000 sockets need that many descriptors per process.
 */
import { sleep } from '../lib/clock.js';
import { startLoad, startRelay, type Relay } from '../lib/processes.js';
import { spread } from '../lib/stats.js';
import { metric, type BenchContext, type Check, type Metric, type Side, type Workload } from '../lib/workload.js';

interface Point {
  sockets: number;
  runs: number;
}

interface Series {
  /** More sockets over the same runs: more frames per event. */
  sockets: Point[];
  /** More runs, one socket each: the same one frame per event. */
  runs: Point[];
}

const SOCKET_SERIES: Point[] = [
  { sockets: 1000, runs: 100 },
  { sockets: 5000, runs: 100 },
  { sockets: 10_000, runs: 100 },
];
const RUN_SERIES: Point[] = [
  { sockets: 10, runs: 10 },
  { sockets: 100, runs: 100 },
  { sockets: 1000, runs: 1000 },
];
const SIZES: Record<'full' | 'quick' | 'tiny', { series: Series; rate: number; seconds: number }> = {
  full: { series: { sockets: SOCKET_SERIES, runs: RUN_SERIES }, rate: 1000, seconds: 5 },
  quick: { series: { sockets: SOCKET_SERIES, runs: RUN_SERIES }, rate: 1000, seconds: 3 },
  tiny: {
    series: { sockets: [{ sockets: 20, runs: 4 }, { sockets: 40, runs: 4 }], runs: [{ sockets: 2, runs: 2 }, { sockets: 4, runs: 4 }] },
    rate: 100,
    seconds: 0.5,
  },
};
const SIDES: readonly Side[] = ['gateway', 'baseline'];
const P99_LIMIT_MS = 50;
/** A series grows linearly when its last point costs at most this much more per unit than its first. */
const LINEAR_TOLERANCE = 1.25;
/** Latency samples kept per point (a Float64Array in the load generator). */
const MAX_SAMPLES = 2_000_000;
/** An unrecorded point per side first, so the first recorded one is not paying for the JIT. */
const WARMUP: Point = { sockets: 100, runs: 10 };
const WARMUP_SECONDS = 1;

interface PointTrial {
  cpuUsPerEvent: number;
  cpuUsPerFrame: number;
  rssKiBPerSocket: number;
  heapKiBPerSocket: number;
  p99Ms: number;
  frames: number;
  connectFailures: number;
  gaps: number;
  dups: number;
}

const pointLabel = (p: Point) => `${p.sockets.toLocaleString('en-US')} sockets × ${p.runs.toLocaleString('en-US')} runs`;

async function measurePoint(relay: Relay, load: ReturnType<typeof startLoad>, p: Point, rate: number, seconds: number): Promise<PointTrial> {
  const { server, info } = relay;
  const { sessionIds } = await server.call('createSessions', { count: p.runs }, 120_000);
  const before = await server.call('memory', null);
  const opened = await load.call(
    'openChat',
    {
      port: info.port,
      protocol: info.protocol,
      targets: Array.from({ length: p.sockets }, (_, i) => ({ sessionId: sessionIds[i % p.runs], lastSeq: 0 })),
      concurrency: 200,
      timeoutMs: 120_000,
    },
    150_000,
  );
  await sleep(200);
  const after = await server.call('memory', null);
  const events = Math.ceil(rate * seconds);
  const framesPlanned = Math.round((events * p.sockets) / p.runs);
  await load.call('arm', { perClient: Number.MAX_SAFE_INTEGER, latencySamples: Math.min(MAX_SAMPLES, framesPlanned) });
  const cpuBefore = await server.call('cpu', null);
  server.call('startStream', { sessionIds, ratePerSecond: rate, durationMs: seconds * 1000 });
  const produced = await server.call('awaitStream', null, seconds * 4000 + 60_000);
  const totals = await load.call('awaitSeqs', { lastSeqs: produced.lastSeqs, timeoutMs: 120_000 }, 150_000);
  const cpuAfter = await server.call('cpu', null);
  const latency = await load.call('latency', null);
  await load.call('closeChat', null);
  await server.call('finishSessions', { sessionIds });
  const cpuUs = cpuAfter.cpuUs - cpuBefore.cpuUs;
  return {
    cpuUsPerEvent: cpuUs / produced.sent,
    cpuUsPerFrame: cpuUs / Math.max(1, totals.received),
    rssKiBPerSocket: (after.rss - before.rss) / 1024 / p.sockets,
    heapKiBPerSocket: (after.heapUsed - before.heapUsed) / 1024 / p.sockets,
    p99Ms: latency.p99,
    frames: totals.received,
    connectFailures: opened.connectFailures,
    gaps: totals.gaps,
    dups: totals.dups,
  };
}

/** Last point ÷ first point of a series, per unit of work (a frame, a socket). */
function growth(values: number[]): number {
  return values[values.length - 1] / values[0];
}

export const scale: Workload = {
  id: 'scale',
  title: 'Cost as work grows',
  summary: 'CPU per event and per frame, RSS per socket and p99 at 1k/5k/10k sockets and 10/100/1 000 streaming runs',
  async run(ctx: BenchContext) {
    const { series: lines, rate, seconds } = SIZES[ctx.size];
    const points = [...lines.sockets, ...lines.runs];
    const reps = ctx.size === 'full' ? Math.min(ctx.reps, 2) : 1;
    const load = startLoad(ctx);
    const relays: Partial<Record<Side, Relay>> = {};
    const trials = new Map<Point, Record<'gateway' | 'baseline', PointTrial[]>>();
    try {
      for (const side of SIDES) relays[side] = await startRelay(side, ctx, { exposeGc: true, profileName: 'scale' });
      if (ctx.size !== 'tiny') for (const side of SIDES) await measurePoint(relays[side]!, load, WARMUP, rate, WARMUP_SECONDS);
      for (const p of points) {
        ctx.log(`  ${pointLabel(p)}, ${rate} events/s for ${seconds} s`);
        const record: Record<'gateway' | 'baseline', PointTrial[]> = { gateway: [], baseline: [] };
        for (let rep = 0; rep < reps; rep++) {
          for (const side of rep % 2 === 0 ? SIDES : [...SIDES].reverse()) {
            const trial = await measurePoint(relays[side]!, load, p, rate, seconds);
            record[side as 'gateway' | 'baseline'].push(trial);
            ctx.log(
              `    rep ${rep + 1} ${side.padEnd(8)} CPU ${trial.cpuUsPerEvent.toFixed(1)} µs/event, ${trial.cpuUsPerFrame.toFixed(2)} µs/frame; ` +
                `${trial.rssKiBPerSocket.toFixed(1)} KiB RSS, ${trial.heapKiBPerSocket.toFixed(1)} KiB heap per socket; p99 ${trial.p99Ms.toFixed(1)} ms; ` +
                `${trial.frames} frames, ${trial.gaps} gaps, ${trial.dups} dups, ${trial.connectFailures} failed connects`,
            );
          }
        }
        trials.set(p, record);
      }
    } finally {
      await Promise.all([...Object.values(relays).map((relay) => relay.server.stop()), load.stop()]);
    }

    const metrics: Metric[] = [];
    const of = (p: Point, key: keyof PointTrial) => {
      const record = trials.get(p)!;
      return { gateway: record.gateway.map((t) => t[key]), baseline: record.baseline.map((t) => t[key]) };
    };
    const median = (values: number[]) => spread(values).median;
    for (const p of points) {
      const label = pointLabel(p);
      const pick = (key: keyof PointTrial, name: string, unit: string) => {
        const v = of(p, key);
        metrics.push(metric(`${name}, ${label}`, unit, 'lower', v.gateway, v.baseline));
      };
      pick('cpuUsPerEvent', 'CPU per event', 'µs');
      pick('cpuUsPerFrame', 'CPU per frame', 'µs');
      // Per socket only where there are enough sockets for it to mean something.
      if (lines.sockets.includes(p)) {
        pick('rssKiBPerSocket', 'RSS per socket', 'KiB');
        pick('heapKiBPerSocket', 'heap per socket', 'KiB');
      }
      pick('p99Ms', 'p99', 'ms');
    }

    const checks: Check[] = [];
    // More sockets over the same runs means more frames per event: each frame, and each socket,
    // must cost no more at 10 000 sockets than at 1 000. More runs at the same total rate, one
    // socket each, is the same work spread wider: an event must cost no more at 1 000 runs than at 10.
    const gatewayOf = (p: Point, key: keyof PointTrial) => median(of(p, key).gateway);
    const series: Array<[string, Point[], (p: Point) => number, string]> = [
      ['CPU per frame as sockets grow', lines.sockets, (p) => gatewayOf(p, 'cpuUsPerFrame'), 'µs/frame'],
      // Heap, the precise figure: RSS per socket at this scale moves with page reuse and the
      // nursery (see the memory workload), so it is reported but not judged.
      ['heap per socket as sockets grow', lines.sockets, (p) => gatewayOf(p, 'heapKiBPerSocket'), 'KiB'],
      ['CPU per event as runs grow', lines.runs, (p) => gatewayOf(p, 'cpuUsPerEvent'), 'µs/event'],
    ];
    for (const [name, line, value, unit] of series) {
      if (line.length < 2) continue;
      const values = line.map(value);
      const g = growth(values);
      checks.push({
        target: `${name}: linear or better (last ÷ first ≤ ${LINEAR_TOLERANCE})`,
        met: g <= LINEAR_TOLERANCE,
        detail: `${line.map((p, i) => `${pointLabel(p)} ${values[i].toFixed(2)} ${unit}`).join(', ')} (${g.toFixed(2)}×)`,
      });
    }
    const held = points.filter((p) => median(of(p, 'p99Ms').gateway) < P99_LIMIT_MS);
    const frameRate = (p: Point) => (rate * p.sockets) / p.runs;
    const largest = held.sort((a, b) => frameRate(b) - frameRate(a) || b.sockets - a.sockets)[0];
    checks.push({
      target: `largest load with p99 < ${P99_LIMIT_MS} ms (reported)`,
      met: null,
      detail: largest
        ? `${pointLabel(largest)} at ${rate} events/s (${Math.round(frameRate(largest)).toLocaleString('en-US')} frames/s), p99 ${median(of(largest, 'p99Ms').gateway).toFixed(1)} ms`
        : `none of the points (${points.map(pointLabel).join('; ')})`,
    });
    let failures = 0;
    let wrong = 0;
    for (const record of trials.values()) {
      for (const t of record.gateway) {
        failures += t.connectFailures;
        wrong += t.gaps + t.dups;
      }
    }
    checks.push({ target: 'every socket connected, every frame delivered once', met: failures === 0 && wrong === 0, detail: `${failures} failed connects, ${wrong} gaps + duplicates` });

    return {
      id: scale.id,
      title: scale.title,
      baseline: 'corked bare ws relay',
      params: { points, eventsPerSecond: rate, seconds, reps },
      metrics,
      checks,
      notes: ['Events are paced at the given rate in all, round-robin over the runs; each socket subscribes to one run’s session.'],
    };
  },
};
