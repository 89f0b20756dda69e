/**
 * Idle memory: `sockets` open /ws sockets over `sessions` sessions, each socket subscribed to one,
 * nothing streaming. Each repetition starts fresh server processes (with --expose-gc) so heaps do
 * not carry over; memory is read inside the server after full GCs, before and after the sockets.
 * A warm-up round of 50 sockets on other sessions runs first, so lazily loaded code is not
 * counted. Both servers run with V8's young generation pinned at its default maximum
 * (`YOUNG_GENERATION_FLAGS`): left to itself, V8 grows it by 8–16 MiB during a round of connects,
 * at a moment that differs from run to run, and that empty capacity would show up as 8–16 KiB of
 * "per socket" RSS on one side or the other (see BENCHMARKS.md).
 */
import { randomUUID } from 'node:crypto';

import { sleep } from '../lib/clock.js';
import { startLoad, startRelay } from '../lib/processes.js';
import { aheadOfSocketIo, interleave, sideMetric, type BenchContext, type Side, type Workload } from '../lib/workload.js';

const SIZES = {
  full: { sockets: 1000, sessions: 50 },
  quick: { sockets: 1000, sessions: 50 },
  tiny: { sockets: 40, sessions: 4 },
} as const;
const TARGET_RATIO = 1.5;
const WARMUP_SOCKETS = 50;
/** 16 MiB semi-spaces: V8's default ceiling on 64-bit, set as the floor too so the size never changes. */
const YOUNG_GENERATION_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16'];
/** Corking changes nothing for an idle socket, so the uncorked relay is not run here. */
const SIDES: readonly Side[] = ['gateway', 'baseline', 'socketio'];

interface MemoryTrial {
  rssPerSocket: number;
  heapPerSocket: number;
  externalPerSocket: number;
  /** Growth of V8's young-generation capacity during the trial (bytes, not per socket). */
  newSpaceGrowth: number;
}

export const idleMemory: Workload = {
  id: 'memory',
  title: 'Idle memory per socket',
  summary: '1 000 open /ws sockets, each subscribed to one session; RSS and heap per socket',
  async run(ctx: BenchContext) {
    const { sockets, sessions } = SIZES[ctx.size];
    const load = startLoad(ctx);
    let runs: Record<Side, MemoryTrial[]>;
    try {
      runs = await interleave(
        ctx.reps,
        async (side) => {
          const relay = await startRelay(side, ctx, { exposeGc: true, nodeFlags: YOUNG_GENERATION_FLAGS });
          try {
            const { port, protocol } = relay.info;
            const warm = Array.from({ length: WARMUP_SOCKETS }, (_, i) => ({ sessionId: `warmup-${i % 5}`, lastSeq: 0 }));
            await load.call('openChat', { port, protocol, targets: warm, concurrency: 50, timeoutMs: 30_000 });
            await load.call('closeChat', null);
            const before = await relay.server.call('memory', null);
            const ids = Array.from({ length: sessions }, () => randomUUID());
            await load.call('openChat', {
              port,
              protocol,
              targets: Array.from({ length: sockets }, (_, i) => ({ sessionId: ids[i % sessions], lastSeq: 0 })),
              concurrency: 100,
              timeoutMs: 60_000,
            });
            await sleep(500);
            const after = await relay.server.call('memory', null);
            await load.call('closeChat', null);
            return {
              rssPerSocket: (after.rss - before.rss) / sockets,
              heapPerSocket: (after.heapUsed - before.heapUsed) / sockets,
              externalPerSocket: (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / sockets,
              newSpaceGrowth: (after.spaces.new_space?.size ?? 0) - (before.spaces.new_space?.size ?? 0),
            };
          } finally {
            await relay.server.stop();
          }
        },
        {
          sides: SIDES,
          log: ctx.log,
          describe: (_s, v) => `${(v.rssPerSocket / 1024).toFixed(1)} KiB RSS, ${(v.heapPerSocket / 1024).toFixed(1)} KiB heap per socket`,
        },
      );
    } finally {
      await load.stop();
    }
    const rss = sideMetric('RSS per socket', 'KiB', 'lower', runs, (r) => r.rssPerSocket / 1024);
    const heap = sideMetric('heap used per socket', 'KiB', 'lower', runs, (r) => r.heapPerSocket / 1024);
    const external = sideMetric('external + array buffers per socket', 'KiB', 'lower', runs, (r) => r.externalPerSocket / 1024);
    const vsSocketIo = aheadOfSocketIo([rss, heap]);
    return {
      id: idleMemory.id,
      title: idleMemory.title,
      baseline: 'bare ws relay (a Set of sockets per session)',
      params: { sockets, sessions },
      metrics: [rss, heap, external],
      checks: [
        { target: `RSS per socket ≤ ${TARGET_RATIO}× bare`, met: rss.ratio <= TARGET_RATIO, detail: `${rss.ratio.toFixed(2)}× (${rss.gateway.median.toFixed(1)} vs ${rss.baseline.median.toFixed(1)} KiB)` },
        { target: `heap per socket ≤ ${TARGET_RATIO}× bare`, met: heap.ratio <= TARGET_RATIO, detail: `${heap.ratio.toFixed(2)}× (${heap.gateway.median.toFixed(1)} vs ${heap.baseline.median.toFixed(1)} KiB)` },
        ...(vsSocketIo ? [vsSocketIo] : []),
      ],
      notes: ['Per-socket figures include each side’s share of the 50 session objects (the gateway: 50 session actors).'],
      extra: {
        newSpaceGrowthMiB: {
          gateway: runs.gateway.map((r) => r.newSpaceGrowth / 2 ** 20),
          baseline: runs.baseline.map((r) => r.newSpaceGrowth / 2 ** 20),
        },
      },
    };
  },
};
