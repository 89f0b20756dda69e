/**
 * Replay: a running run has `events` logged events; one new socket subscribes with lastSeq 0.
 * Figure: from sending the subscribe to receiving the last replayed frame (the socket is already
 * connected). The gateway reads its in-memory tail and SQLite; bare sends a slice of an array.
 */
import { startRig } from '../lib/processes.js';
import { interleave, metric, type BenchContext, type Workload } from '../lib/workload.js';

const SIZES = {
  full: { events: 5000, reps: 7 },
  quick: { events: 5000, reps: 4 },
  tiny: { events: 300, reps: 1 },
} as const;
const TARGET_RATIO = 1.5;

export const replay: Workload = {
  id: 'replay',
  title: 'Replay on subscribe',
  summary: 'subscribe with lastSeq 0 to a running run with 5 000 logged events; time to the last replayed frame',
  async run(ctx: BenchContext) {
    const { events } = SIZES[ctx.size];
    const reps = Math.max(ctx.reps, SIZES[ctx.size].reps);
    const rig = await startRig(ctx, 'replay');
    let bad = 0;
    let runs: Record<'gateway' | 'baseline', number[]>;
    try {
      runs = await interleave(
        reps,
        async (side) => {
          const { server, info } = rig.relay(side);
          const { sessionIds } = await server.call('createSessions', { count: 1 });
          await server.call('burst', { sessionIds, perSession: events, batch: 500 });
          const result = await rig.load.call('replay', {
            port: info.port,
            sessionId: sessionIds[0],
            lastSeq: 0,
            untilSeq: events,
            timeoutMs: 30_000,
          });
          await server.call('finishSessions', { sessionIds });
          if (result.frames !== events || result.gaps || result.dups) bad++;
          return result.ms;
        },
        { warmup: true, log: ctx.log, describe: (_s, v) => `${v.toFixed(1)} ms` },
      );
    } finally {
      await rig.stop();
    }
    const m = metric(`${events} events, lastSeq 0`, 'ms', 'lower', runs.gateway, runs.baseline);
    return {
      id: replay.id,
      title: replay.title,
      baseline: 'corked bare ws relay sending the same frames from memory',
      params: { events, reps },
      metrics: [m],
      checks: [
        { target: `≤ ${TARGET_RATIO}× bare`, met: m.ratio <= TARGET_RATIO, detail: `${m.ratio.toFixed(2)}×` },
        { target: 'every event replayed once, in order', met: bad === 0, detail: `${bad} repetitions with a gap, duplicate or missing frame` },
      ],
      notes: [],
    };
  },
};
