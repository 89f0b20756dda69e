/**
 * Fan-out: one run streams `events` stream_delta events as fast as the producer can hand them
 * over (`BATCH` per event-loop turn), to 1, 10 and 100 subscribers. Figure: frames delivered per
 * second, all subscribers together, from the producer's first send to the last frame received;
 * and the server process's CPU time per event over the same span (steadier than wall time on a
 * shared machine). The 100-subscriber case, by far the longest, runs one repetition fewer.
 */
import { startRig } from '../lib/processes.js';
import { interleave, metric, type BenchContext, type Check, type Metric, type Workload } from '../lib/workload.js';

/** Events handed to the writer per event-loop turn: a provider's stdout chunk carries several deltas. */
const BATCH = 100;
const TARGET_RATIO = 0.6;

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
    const rig = await startRig(ctx, 'fanout');
    const throughput: Metric[] = [];
    const cpu: Metric[] = [];
    const checks: Check[] = [];
    let gaps = 0;
    let dups = 0;
    try {
      for (const count of subscribers) {
        ctx.log(`  ${count} subscriber(s), ${events} events`);
        const runs = await interleave(
          count >= 100 ? Math.max(2, ctx.reps - 1) : ctx.reps,
          async (side) => {
            const { server, info } = rig.relays[side];
            const { sessionIds } = await server.call('createSessions', { count: 1 });
            const [sessionId] = sessionIds;
            await rig.load.call('openChat', {
              port: info.port,
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
            warmup: count === subscribers[0],
            log: ctx.log,
            describe: (_s, v) => `${Math.round(v.framesPerSecond)} frames/s, server CPU ${v.cpuUsPerEvent.toFixed(1)} µs/event`,
          },
        );
        const label = `${count} subscriber${count === 1 ? '' : 's'}`;
        throughput.push(metric(label, 'frames/s', 'higher', runs.gateway.map((r) => r.framesPerSecond), runs.baseline.map((r) => r.framesPerSecond)));
        cpu.push(metric(`server CPU per event, ${label}`, 'µs', 'lower', runs.gateway.map((r) => r.cpuUsPerEvent), runs.baseline.map((r) => r.cpuUsPerEvent)));
      }
    } finally {
      await rig.stop();
    }
    const metrics = [...throughput, ...cpu];
    const ten = metrics.find((m) => m.label === '10 subscribers');
    checks.push({
      target: `≥ ${TARGET_RATIO}× bare at 10 subscribers`,
      met: ten ? ten.ratio >= TARGET_RATIO : null,
      detail: ten ? `${ten.ratio.toFixed(2)}×` : 'not measured at this size',
    });
    checks.push({ target: 'every frame delivered once, in order', met: gaps === 0 && dups === 0, detail: `${gaps} gaps, ${dups} duplicates` });
    return {
      id: fanout.id,
      title: fanout.title,
      baseline: 'bare ws relay',
      params: { events, subscribers, eventsPerTurn: BATCH },
      metrics,
      checks,
      notes: [],
    };
  },
};
