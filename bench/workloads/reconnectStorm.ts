/**
 * Reconnect storm: `sockets` sockets over `sessions` running sessions, each holding a prefix of
 * its session, while a paced stream keeps every session moving. All sockets drop at once
 * (terminated, as by a network blip), events go on for `pauseMs`, then all reconnect at once and
 * subscribe with their lastSeq. Figure: time from the first reconnect attempt until every socket
 * holds every event up to its ack's lastSeq. After the stream stops, every socket must hold every
 * seq exactly once: gaps and duplicates are counted over the whole life of each socket.
 */
import { sleep } from '../lib/clock.js';
import { startRig } from '../lib/processes.js';
import { ALL_SIDES, aheadOfSocketIo, interleave, sideMetric, type BenchContext, type Side, type Workload } from '../lib/workload.js';
import type { StormResult } from '../load/loadgen.js';

const SIZES = {
  full: { sessions: 50, sockets: 1000, prefill: 100, rate: 1000 },
  quick: { sessions: 50, sockets: 1000, prefill: 100, rate: 1000 },
  tiny: { sessions: 5, sockets: 20, prefill: 20, rate: 200 },
} as const;
const PAUSE_MS = 250;
/** A repetition whose sockets have not all caught up by then counts the timeout as its time. */
const STORM_TIMEOUT_MS = 30_000;
/** The stream's hard stop; a repetition normally stops it after a second or two. */
const STREAM_LIMIT_MS = 60_000;

interface StormTrial extends StormResult {
  gaps: number;
  dups: number;
}

export const reconnectStorm: Workload = {
  id: 'storm',
  title: 'Reconnect storm',
  summary: '1 000 sockets over 50 running sessions drop and resubscribe at once with their lastSeq; time until all caught up, gaps, duplicates',
  async run(ctx: BenchContext) {
    const { sessions, sockets, prefill, rate } = SIZES[ctx.size];
    const rig = await startRig(ctx, 'storm', ALL_SIDES);
    let runs: Record<Side, StormTrial[]>;
    try {
      runs = await interleave(
        ctx.reps,
        async (side) => {
          const { server, info } = rig.relay(side);
          const { sessionIds } = await server.call('createSessions', { count: sessions });
          const filled = await server.call('burst', { sessionIds, perSession: prefill, batch: 500 });
          await rig.load.call('openChat', {
            port: info.port,
            protocol: info.protocol,
            targets: Array.from({ length: sockets }, (_, i) => ({ sessionId: sessionIds[i % sessions], lastSeq: 0 })),
            concurrency: 100,
            timeoutMs: 60_000,
          });
          await rig.load.call('awaitSeqs', { lastSeqs: filled.lastSeqs, timeoutMs: 60_000 });
          server.call('startStream', { sessionIds, ratePerSecond: rate, durationMs: STREAM_LIMIT_MS });
          await sleep(300);
          const storm = await rig.load.call('storm', { port: info.port, protocol: info.protocol, pauseMs: PAUSE_MS, timeoutMs: STORM_TIMEOUT_MS });
          await sleep(300);
          const produced = await server.call('stopStream', null);
          const totals = await rig.load.call('awaitSeqs', { lastSeqs: produced.lastSeqs, timeoutMs: 30_000 });
          await rig.load.call('closeChat', null);
          await server.call('finishSessions', { sessionIds });
          return { ...storm, gaps: totals.gaps, dups: totals.dups };
        },
        {
          sides: ALL_SIDES,
          log: ctx.log,
          describe: (side, v) =>
            `${v.timedOut ? 'NOT ' : ''}all caught up in ${v.allCaughtUpMs.toFixed(0)} ms (median socket ${v.medianCaughtUpMs.toFixed(0)} ms), ${v.caughtUp}/${v.clients}, ${v.gaps} gaps, ${v.dups} dups, ${v.connectFailures} failed connects${side === 'socketio' ? `, ${v.recovered} recovered by socket.io` : ''}`,
        },
      );
    } finally {
      await rig.stop();
    }
    const all = sideMetric('time until all caught up', 'ms', 'lower', runs, (r) => r.allCaughtUpMs);
    const median = sideMetric('median socket caught up', 'ms', 'lower', runs, (r) => r.medianCaughtUpMs);
    const sum = (side: Side, key: 'gaps' | 'dups' | 'connectFailures' | 'recovered' | 'clients') => runs[side].reduce((n, r) => n + r[key], 0);
    const timeouts = (side: Side) => runs[side].filter((r) => r.timedOut).length;
    const vsSocketIo = aheadOfSocketIo([all, median]);
    return {
      id: reconnectStorm.id,
      title: reconnectStorm.title,
      baseline: 'corked bare ws relay with an in-memory resume',
      params: { sessions, sockets, prefillPerSession: prefill, eventsPerSecond: rate, pauseMs: PAUSE_MS },
      metrics: [all, median],
      checks: [
        {
          target: '0 gaps, 0 duplicates',
          met: sum('gateway', 'gaps') === 0 && sum('gateway', 'dups') === 0,
          detail: `gateway ${sum('gateway', 'gaps')} gaps, ${sum('gateway', 'dups')} duplicates; bare ${sum('baseline', 'gaps')} gaps, ${sum('baseline', 'dups')} duplicates`,
        },
        { target: 'time reported vs bare reconnect', met: null, detail: `${all.ratio.toFixed(2)}× corked bare (${all.gateway.median.toFixed(0)} vs ${all.baseline.median.toFixed(0)} ms)` },
        ...(vsSocketIo ? [vsSocketIo] : []),
        {
          target: 'socket.io: gaps and duplicates, sessions recovered (reported)',
          met: null,
          detail: `${sum('socketio', 'gaps')} gaps, ${sum('socketio', 'dups')} duplicates; ${sum('socketio', 'recovered')} of ${sum('socketio', 'clients')} sockets recovered by connectionStateRecovery`,
        },
        {
          target: 'every socket reconnected and caught up',
          met: sum('gateway', 'connectFailures') === 0 && timeouts('gateway') === 0,
          detail: `gateway ${sum('gateway', 'connectFailures')} failed connects, ${timeouts('gateway')} repetitions past ${STORM_TIMEOUT_MS / 1000} s; bare ${sum('baseline', 'connectFailures')}, ${timeouts('baseline')}`,
        },
      ],
      notes: [],
    };
  },
};
