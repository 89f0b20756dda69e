/** Runs a selection of workloads in order and collects one report. */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

import { WORKLOADS } from '../workloads/index.js';
import { SharedProcesses } from './processes.js';
import { machineInfo, type RunReport } from './report.js';
import type { BenchContext, Size } from './workload.js';

export interface RunOptions {
  /** Workload ids; empty: all. */
  ids: string[];
  size: Size;
  reps: number;
  profile: boolean;
  outDir: string;
  log(line: string): void;
}

export const DEFAULT_REPS: Record<Size, number> = { full: 3, quick: 2, tiny: 1 };

export async function runBench(options: RunOptions): Promise<RunReport> {
  const selected = options.ids.length ? WORKLOADS.filter((w) => options.ids.includes(w.id)) : WORKLOADS;
  const started = Date.now();
  const profileDir = options.profile ? join(options.outDir, 'profiles') : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const report: RunReport = {
    startedAt: new Date(started).toISOString(),
    durationSeconds: 0,
    size: options.size,
    reps: options.reps,
    machine: machineInfo(),
    workloads: [],
    failures: [],
  };
  // A tiny run proves the harness works; its start-up would dwarf its trials, so it shares processes.
  const shared = options.size === 'tiny' && !options.profile ? new SharedProcesses() : null;
  const ctx: BenchContext = { size: options.size, reps: options.reps, profileDir, shared, log: options.log };
  try {
    for (const workload of selected) {
      options.log(`\n== ${workload.id}: ${workload.summary}`);
      const t0 = Date.now();
      try {
        report.workloads.push(await workload.run(ctx));
      } catch (error) {
        const message = error instanceof Error ? error.stack ?? error.message : String(error);
        options.log(`   ${workload.id} failed: ${message}`);
        report.failures.push({ id: workload.id, error: message });
      }
      options.log(`   (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    await shared?.stop();
  }
  report.durationSeconds = (Date.now() - started) / 1000;
  report.loadAverageAtEnd = loadavg().map((n) => Math.round(n * 100) / 100);
  return report;
}
