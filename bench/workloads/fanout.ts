/**
 * Fan-out: one run streams `events` stream_delta events as fast as the producer can hand them
 * over (`BATCH` per event-loop turn), to 1, 10 and 100 subscribers. Figure: frames delivered per
 * second, all subscribers together, from the producer's first send to the last frame received;
 * and the server process's CPU time per event over the same span (steadier than wall time on a
 * shared machine). Every case runs every repetition: the 100-subscriber case once ran one fewer
 * (it is the longest), and a median of two is the mean of its two. Its repetitions after the first
 * come ~40 s after the side's last while the peers run: before the gateway and the corked relay
 * were started with `--no-memory-reducer` (GATEWAY_V8_FLAGS), V8 shrank their heaps in that idle
 * time and they cost 1.8-2.5x the CPU per event of the first (BENCHMARKS.md, "The gateway after
 * idle time"). Every side runs:
 * the gateway, the corked bare relay (the ratio's baseline), the uncorked one and socket.io.
 */
import { startRig } from '../lib/processes.js';
import { ALL_SIDES, aheadOfSocketIo, interleave, sideMetric, type BenchContext, type Check, type Metric, type Workload } from '../lib/workload.js';

/** Events handed to the writer per event-loop turn: a provider's stdout chunk carries several deltas. */
const BATCH = 100;
/** Frames/s as a share of the corked bare relay's, by subscribers (issue 18). */
const TARGET_RATIOS: Record<number, number> = { 1: 0.6, 10: 0.8, 100: 0.8 };
/** Server CPU per event at 1 subscriber, at most this multiple of the corked bare relay's. */
const CPU_TARGET_RATIO = 2;

const SIZES = {
  full: { events: 20_000, subscribers: [1, 10, 100] },
  quick: { events: 5_000, subscribers: [1, 10, 100] },
  tiny: { events: 300, subscribers: [1, 3] },
} as const;

export const fanout: Workload = {
  id: 'fanout',
  title: 'Fan-out throughput',
  summary: 'one run streams N stream_delta events (~110 B) to 1, 10 and 100 subscribers; frames/s delivered, total',
  async run(ctx: BenchContext) {
    const { events } = SIZES[ctx.size];
    // BENCH_FANOUT_SUBSCRIBERS=10 runs one case alone (e.g. to profile it).
    const subscribers = process.env.BENCH_FANOUT_SUBSCRIBERS
      ? process.env.BENCH_FANOUT_SUBSCRIBERS.split(',').map(Number)
      : SIZES[ctx.size].subscribers;
    const rig = await startRig(ctx, 'fanout', ALL_SIDES);
    const throughput: Metric[] = [];
    const cpu: Metric[] = [];
    const checks: Check[] = [];
    let gaps = 0;
    let dups = 0;
    try {
      for (const count of subscribers) {
        ctx.log(`  ${count} subscriber(s), ${events} events`);
        const runs = await interleave(
          ctx.reps,
          async (side) => {
            const { server, info } = rig.relay(side);
            const { sessionIds } = await server.call('createSessions', { count: 1 });
            const [sessionId] = sessionIds;
            await rig.load.call('openChat', {
              port: info.port,
              protocol: info.protocol,
              targets: Array.from({ length: count }, () => ({ sessionId, lastSeq: 0 })),
              concurrency: 100,
              timeoutMs: 30_000,
            });
            await rig.load.call('arm', { perClient: events, latencySamples: 0 });
            const cpuBefore = await server.call('cpu', null);
            const produced = await server.call('burst', { sessionIds, perSession: events, batch: BATCH });
            const totals = await rig.load.call('awaitTarget', { timeoutMs: 180_000 }, 200_000);
            const cpuAfter = await server.call('cpu', null);
            await rig.load.call('closeChat', null);
            await server.call('finishSessions', { sessionIds });
            gaps += totals.gaps;
            dups += totals.dups;
            return {
              framesPerSecond: (count * events) / ((totals.lastReceivedUs - produced.startUs) / 1e6),
              cpuUsPerEvent: (cpuAfter.cpuUs - cpuBefore.cpuUs) / events,
            };
          },
          {
            sides: ALL_SIDES,
            warmup: count === subscribers[0],
            log: ctx.log,
            describe: (_s, v) => `${Math.round(v.framesPerSecond)} frames/s, server CPU ${v.cpuUsPerEvent.toFixed(1)} µs/event`,
          },
        );
        const label = `${count} subscriber${count === 1 ? '' : 's'}`;
        throughput.push(sideMetric(label, 'frames/s', 'higher', runs, (r) => r.framesPerSecond));
        cpu.push(sideMetric(`server CPU per event, ${label}`, 'µs', 'lower', runs, (r) => r.cpuUsPerEvent));
      }
    } finally {
      await rig.stop();
    }
    const metrics = [...throughput, ...cpu];
    for (const [count, target] of Object.entries(TARGET_RATIOS)) {
      const m = throughput.find((t) => t.label.split(' ')[0] === count);
      checks.push({
        target: `≥ ${target}× corked bare at ${count} subscriber${count === '1' ? '' : 's'}`,
        met: m ? m.ratio >= target : null,
        detail: m ? `${m.ratio.toFixed(2)}×` : 'not measured at this size',
      });
    }
    const cpuOne = cpu.find((m) => m.label === 'server CPU per event, 1 subscriber');
    checks.push({
      target: `server CPU per event at 1 subscriber ≤ ${CPU_TARGET_RATIO}× corked bare`,
      met: cpuOne ? cpuOne.ratio <= CPU_TARGET_RATIO : null,
      detail: cpuOne ? `${cpuOne.ratio.toFixed(2)}× (${cpuOne.gateway.median.toFixed(1)} vs ${cpuOne.baseline.median.toFixed(1)} µs)` : 'not measured',
    });
    const vsSocketIo = aheadOfSocketIo(metrics);
    if (vsSocketIo) checks.push(vsSocketIo);
    checks.push({ target: 'every frame delivered once, in order', met: gaps === 0 && dups === 0, detail: `${gaps} gaps, ${dups} duplicates` });
    return {
      id: fanout.id,
      title: fanout.title,
      baseline: 'corked bare ws relay',
      params: { events, subscribers, eventsPerTurn: BATCH },
      metrics,
      checks,
      notes: [],
    };
  },
};
