/**
 * `npm run bench [-- <workload…>] [--quick | --tiny] [--reps N] [--profile] [--out DIR] [--list]`
 * (or BENCH_WORKLOADS=fanout,replay, BENCH_REPS=5)
 *
 * Runs each workload against the real gateway and the bare baseline in the same run,
 * interleaved, prints the table and writes results. A full-size run of every workload writes
 * bench/results/latest.{json,md}; any other run writes bench/results/run-<size>-<workloads>.{json,md}
 * so a partial run never replaces the published figures. `--profile` also writes V8 CPU profiles
 * of both servers under <out>/profiles/ (summarise one with `npx tsx bench/profile.ts <dir>`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { renderMarkdown, renderText } from './lib/report.js';
import { DEFAULT_REPS, runBench, type RunOptions } from './lib/runner.js';
import { WORKLOADS } from './workloads/index.js';

function parseArgs(argv: string[]): RunOptions & { list: boolean } {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const options = {
    ids: [] as string[],
    size: 'full' as RunOptions['size'],
    reps: 0,
    profile: false,
    outDir: join(root, 'bench', 'results'),
    list: false,
    log: (line: string) => console.log(line),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.size = 'quick';
    else if (arg === '--tiny') options.size = 'tiny';
    else if (arg === '--profile') options.profile = true;
    else if (arg === '--list') options.list = true;
    else if (arg === '--reps') options.reps = Number(argv[++i]);
    else if (arg === '--out') options.outDir = argv[++i];
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else options.ids.push(...arg.split(',').filter(Boolean));
  }
  if (options.ids.length === 0 && process.env.BENCH_WORKLOADS) options.ids = process.env.BENCH_WORKLOADS.split(',').filter(Boolean);
  if (!options.reps) options.reps = Number(process.env.BENCH_REPS) || DEFAULT_REPS[options.size];
  if (!Number.isInteger(options.reps) || options.reps < 1) throw new Error('--reps must be a positive integer');
  for (const id of options.ids) {
    if (!WORKLOADS.some((w) => w.id === id)) throw new Error(`unknown workload "${id}" (known: ${WORKLOADS.map((w) => w.id).join(', ')})`);
  }
  return options;
}

/** BENCHMARKS.md carries the latest full run between two markers; the prose around them is kept. */
function publishInBenchmarksMd(markdown: string): void {
  const path = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));
  const start = '<!-- latest-results:start -->';
  const end = '<!-- latest-results:end -->';
  if (!existsSync(path)) return;
  const text = readFileSync(path, 'utf8');
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return;
  // The results file's own title becomes a subsection of BENCHMARKS.md.
  const body = markdown.replace(/^# Benchmark results\n/, '').trim();
  writeFileSync(path, `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`);
  console.log(`updated the results in ${path}`);
}

const options = parseArgs(process.argv.slice(2));
if (options.list) {
  for (const w of WORKLOADS) console.log(`${w.id.padEnd(8)} ${w.summary}`);
} else {
  const report = await runBench(options);
  console.log(`\n${renderText(report)}\n`);
  mkdirSync(options.outDir, { recursive: true });
  const everything = options.ids.length === 0 || WORKLOADS.every((w) => options.ids.includes(w.id));
  const name = everything && options.size === 'full' ? 'latest' : `run-${options.size}-${(options.ids.length ? options.ids : ['all']).join('+')}`;
  writeFileSync(join(options.outDir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(options.outDir, `${name}.md`), renderMarkdown(report));
  console.log(`wrote ${join(options.outDir, name)}.{json,md} in ${report.durationSeconds.toFixed(0)} s`);
  if (name === 'latest') publishInBenchmarksMd(renderMarkdown(report));
  process.exitCode = report.failures.length > 0 ? 1 : 0;
}
