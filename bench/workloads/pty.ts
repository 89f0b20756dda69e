/**
 * PTY throughput: `yes | head -c <bytes>` in a fresh PTY, read to the end by one /shell client
 * (the gateway: node-pty → headless-xterm screen mirror → shell machine → socket, with flow
 * control), against node-pty read in-process with nothing else (the target's baseline) and, for
 * context, the bare ws relay (node-pty → socket, no mirror, no flow control). The terminal turns
 * each "\n" into "\r\n", so 50 MiB of `yes` arrive as 75 MiB; the clock stops when the last of
 * them has arrived. The gateway's RSS is sampled every 50 ms during the stream.
 */
import { startChild, startLoad, startRelay } from '../lib/processes.js';
import { metric, type BenchContext, type Workload } from '../lib/workload.js';
import { spread } from '../lib/stats.js';
import type { RawPtyApi } from '../servers/rawPty.js';

const MiB = 1024 * 1024;
const SIZES = {
  full: { bytes: 50 * MiB },
  quick: { bytes: 20 * MiB },
  tiny: { bytes: 1 * MiB },
} as const;
const TARGET_RATIO = 0.5;
const RSS_GROWTH_LIMIT_MiB = 64;
const GEOMETRY = { cols: 120, rows: 40 };
/** Reading RSS costs ~0.1 ms (it reads /proc); often enough to catch a peak, rarely enough not to matter. */
const RSS_SAMPLE_MS = 50;

type PtySide = 'gateway' | 'raw' | 'bare';

export const ptyThroughput: Workload = {
  id: 'pty',
  title: 'PTY throughput',
  summary: '`yes | head -c 50M` through a PTY to one /shell client; MB/s received and gateway RSS growth, vs raw node-pty',
  async run(ctx: BenchContext) {
    const { bytes } = SIZES[ctx.size];
    // `yes` prints "y\n" and the terminal sends "y\r\n": 1.5 characters per byte of the stream.
    const expected = bytes * 1.5;
    const load = startLoad(ctx);
    const raw = startChild<RawPtyApi>(ctx, '../servers/rawPty.ts', { label: 'raw pty' });
    const [gateway, bare] = await Promise.all([
      startRelay('gateway', ctx, { profileName: 'pty' }),
      startRelay('baseline', ctx, { profileName: 'pty' }),
    ]);
    const rates: Record<PtySide, number[]> = { gateway: [], raw: [], bare: [] };
    const growth: number[] = [];
    const chars: Record<PtySide, number[]> = { gateway: [], raw: [], bare: [] };
    let runNumber = 0;
    const trial = async (side: PtySide, record: boolean) => {
      // The warm-up streams a tenth: enough to load and optimise the code paths.
      const streamBytes = record ? bytes : Math.ceil(bytes / 10);
      const expected = streamBytes * 1.5;
      // A distinct command per run: a fresh PTY, never an attach to an earlier one. The pause
      // before exiting lets every byte be read: a PTY whose process is gone may drop its last
      // chunk (node-pty in-process loses it too).
      const command = `yes | head -c ${streamBytes}; sleep 1 # ${runNumber++}`;
      const timeoutMs = 300_000;
      let result: { chars: number; ms: number };
      if (side === 'raw') {
        result = await raw.call('read', { command, cwd: gateway.info.workDir, ...GEOMETRY, expectChars: expected, timeoutMs }, timeoutMs + 10_000);
      } else {
        const relay = side === 'gateway' ? gateway : bare;
        if (side === 'gateway') await gateway.server.call('watchRss', { intervalMs: 20 });
        result = await load.call(
          'shellStream',
          { port: relay.info.port, target: { projectPath: relay.info.workDir, command, ...GEOMETRY }, expectChars: expected, timeoutMs },
          timeoutMs + 10_000,
        );
        if (side === 'gateway') {
          const watch = await gateway.server.call('stopWatchRss', null);
          if (record) growth.push((watch.maxRss - watch.startRss) / MiB);
        }
      }
      const rate = expected / MiB / (result.ms / 1000);
      if (record) {
        rates[side].push(rate);
        chars[side].push(result.chars);
        ctx.log(`    ${side.padEnd(8)} ${rate.toFixed(1)} MiB/s (${(expected / MiB).toFixed(1)} MiB in ${result.ms.toFixed(0)} ms)`);
      }
    };
    try {
      for (const side of ['gateway', 'raw', 'bare'] as const) await trial(side, false);
      for (let rep = 0; rep < ctx.reps; rep++) {
        const order: PtySide[][] = [['gateway', 'raw', 'bare'], ['raw', 'bare', 'gateway'], ['bare', 'gateway', 'raw']];
        for (const side of order[rep % 3]) await trial(side, true);
      }
    } finally {
      await Promise.all([gateway.server.stop(), bare.server.stop(), raw.stop(), load.stop()]);
    }
    const throughput = metric('MiB/s received (vs raw node-pty)', 'MiB/s', 'higher', rates.gateway, rates.raw);
    const relay = metric('MiB/s received (vs bare ws relay)', 'MiB/s', 'higher', rates.gateway, rates.bare);
    const rss = spread(growth);
    const complete = [...chars.gateway, ...chars.raw, ...chars.bare].every((n) => n >= expected);
    return {
      id: ptyThroughput.id,
      title: ptyThroughput.title,
      baseline: 'node-pty read in-process (and the bare ws relay for context)',
      params: { streamBytes: bytes, ...GEOMETRY },
      metrics: [throughput, relay],
      checks: [
        { target: `≥ ${TARGET_RATIO}× raw node-pty read`, met: throughput.ratio >= TARGET_RATIO, detail: `${throughput.ratio.toFixed(2)}× (${throughput.gateway.median.toFixed(1)} vs ${throughput.baseline.median.toFixed(1)} MiB/s)` },
        { target: `gateway RSS growth ≤ ${RSS_GROWTH_LIMIT_MiB} MB`, met: rss.max <= RSS_GROWTH_LIMIT_MiB, detail: `median ${rss.median.toFixed(1)} MiB, max ${rss.max.toFixed(1)} MiB` },
        {
          target: 'every byte arrived',
          met: complete,
          detail: `expected ≥ ${expected} characters; gateway ${chars.gateway.join(', ')}; raw ${chars.raw.join(', ')}; bare ${chars.bare.join(', ')}`,
        },
      ],
      notes: [],
      extra: { rssGrowthMiB: growth, bareRelayMiBps: rates.bare },
    };
  },
};
