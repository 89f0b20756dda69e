/**
 * Screen restore: viewer A runs a command that prints 1 000 lines of coloured output and waits;
 * viewer B attaches to the same PTY. Figure: time from B's `init` to its restored screen, and the
 * bytes that restored it. The gateway sends one serialized screen (scrollback bounded by
 * `shellScrollbackLines`); the bare relay replays the raw chunks it kept (claudecodeui's way).
 */
import { startRig } from '../lib/processes.js';
import { interleave, metric, type BenchContext, type Workload } from '../lib/workload.js';
import type { RestoreResult } from '../load/shellClient.js';

const SIZES = {
  full: { lines: 1000, reps: 5 },
  quick: { lines: 1000, reps: 3 },
  tiny: { lines: 100, reps: 1 },
} as const;
const GEOMETRY = { cols: 120, rows: 40 };

/** Each line: two colours, bold, underline, a background, then plain text to the right margin. */
const colouredLines = (lines: number, marker: string) =>
  `for i in $(seq 1 ${lines}); do printf '\\033[3%dmline %04d\\033[0m \\033[1;4%dmcoloured\\033[0m \\033[4mtext\\033[0m %s\\n' $((i % 8)) $i $(((i + 3) % 8)) "the quick brown fox jumps over the lazy dog"; done; echo ${marker}; read -r _`;

export const screenRestore: Workload = {
  id: 'restore',
  title: 'Screen restore',
  summary: 'attach to a PTY with 1 000 scrollback lines of coloured output; restore frame bytes and time',
  async run(ctx: BenchContext) {
    const { lines } = SIZES[ctx.size];
    const reps = Math.max(ctx.reps, SIZES[ctx.size].reps);
    const rig = await startRig(ctx, 'restore');
    let runNumber = 0;
    let runs: Record<'gateway' | 'baseline', RestoreResult[]>;
    try {
      runs = await interleave(
        reps,
        async (side) => {
          const { info } = rig.relay(side);
          const marker = `RESTORE-READY-${runNumber++}`;
          return rig.load.call('shellRestore', {
            port: info.port,
            target: { projectPath: info.workDir, command: colouredLines(lines, marker), ...GEOMETRY },
            marker,
            timeoutMs: 60_000,
          });
        },
        { warmup: true, log: ctx.log, describe: (_s, v) => `${v.ms.toFixed(1)} ms, ${v.restoreChars} chars in ${v.restoreFrames} frame(s)` },
      );
    } finally {
      await rig.stop();
    }
    const time = metric('time to restored screen', 'ms', 'lower', runs.gateway.map((r) => r.ms), runs.baseline.map((r) => r.ms));
    const size = metric('restore payload', 'KiB', 'lower', runs.gateway.map((r) => r.restoreChars / 1024), runs.baseline.map((r) => r.restoreChars / 1024));
    const wire = metric('restore frames on the wire', 'KiB', 'lower', runs.gateway.map((r) => r.restoreFrameBytes / 1024), runs.baseline.map((r) => r.restoreFrameBytes / 1024));
    return {
      id: screenRestore.id,
      title: screenRestore.title,
      baseline: 'bare ws relay replaying the raw chunks it kept',
      params: { lines, ...GEOMETRY, reps },
      metrics: [time, size, wire],
      checks: [
        { target: 'restore frame bytes and time', met: null, detail: `${size.gateway.median.toFixed(1)} KiB in ${time.gateway.median.toFixed(1)} ms (bare raw replay ${size.baseline.median.toFixed(1)} KiB in ${time.baseline.median.toFixed(1)} ms)` },
      ],
      notes: [],
    };
  },
};
