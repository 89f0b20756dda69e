/** The printed table, latest.json and latest.md of a benchmark run. */
import os from 'node:os';

import { PEER_LABELS, type Metric, type Peer, type WorkloadResult } from './workload.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  node: string;
  loadAverage: number[];
}

export interface RunReport {
  startedAt: string;
  /** 1/5/15-minute load averages when the run ended (the start's are in `machine`). */
  loadAverageAtEnd?: number[];
  durationSeconds: number;
  size: string;
  reps: number;
  machine: MachineInfo;
  workloads: WorkloadResult[];
  failures: Array<{ id: string; error: string }>;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

/** Three significant figures, thousands grouped for big numbers. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

const cell = (m: Metric, side: 'gateway' | 'baseline') => {
  const s = m[side];
  return `${formatNumber(s.median)} (${formatNumber(s.min)}–${formatNumber(s.max)})`;
};

/** Two decimals, or two significant digits below 0.1 (a ratio of 0.004 is not "0.00"). */
const formatRatio = (value: number) => (Math.abs(value) >= 0.1 ? value.toFixed(2) : value.toPrecision(2));

const ratioCell = (m: Metric) =>
  Number.isFinite(m.ratio)
    ? `${formatRatio(m.ratio)}× (${formatRatio(m.pairedRatio.min)}–${formatRatio(m.pairedRatio.max)})`
    : 'n/a';

const peerCell = (m: Metric, peer: Peer) => {
  const figure = m.peers?.[peer];
  return figure ? `${formatNumber(figure.spread.median)} (${formatNumber(figure.spread.min)}–${formatNumber(figure.spread.max)})` : '–';
};
const peerRatioCell = (m: Metric, peer: Peer) => {
  const figure = m.peers?.[peer];
  return figure && Number.isFinite(figure.ratio) ? `${formatRatio(figure.ratio)}×` : '–';
};

export interface TableRow {
  workload: string;
  metric: string;
  unit: string;
  gateway: string;
  baseline: string;
  ratio: string;
  uncorked: string;
  socketio: string;
  /** gateway ÷ socket.io (medians). */
  socketioRatio: string;
}

/** Column headings: the baseline is the corked bare relay; the peers follow the ratio. */
const HEADINGS: Record<keyof TableRow, string> = {
  workload: 'workload',
  metric: 'metric',
  unit: 'unit',
  gateway: 'gateway',
  baseline: 'corked bare',
  ratio: 'gateway ÷ corked bare',
  uncorked: PEER_LABELS.uncorked,
  socketio: PEER_LABELS.socketio,
  socketioRatio: 'gateway ÷ socket.io',
};

export function tableRows(report: RunReport): TableRow[] {
  const rows: TableRow[] = [];
  for (const result of report.workloads) {
    for (const m of result.metrics) {
      rows.push({
        workload: result.id,
        metric: m.label,
        unit: m.unit,
        gateway: cell(m, 'gateway'),
        baseline: cell(m, 'baseline'),
        ratio: ratioCell(m),
        uncorked: peerCell(m, 'uncorked'),
        socketio: peerCell(m, 'socketio'),
        socketioRatio: peerRatioCell(m, 'socketio'),
      });
    }
  }
  return rows;
}

export function renderText(report: RunReport): string {
  const header: TableRow = { ...HEADINGS, ratio: `${HEADINGS.ratio} (paired min–max)` };
  const rows = [header, ...tableRows(report)];
  const keys = Object.keys(header) as Array<keyof TableRow>;
  const widths = keys.map((key) => Math.max(...rows.map((row) => row[key].length)));
  const line = (row: TableRow) => keys.map((key, i) => row[key].padEnd(widths[i])).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line), ''];
  if (report.size === 'tiny') out.push('(tiny run: it proves the harness works; its figures and targets mean nothing)');
  for (const result of report.workloads) {
    for (const check of result.checks) {
      const mark = check.met === null ? 'info' : check.met ? 'MET ' : 'MISS';
      out.push(`[${mark}] ${result.id}: ${check.target} — ${check.detail}`);
    }
  }
  for (const failure of report.failures) out.push(`[FAIL] ${failure.id}: ${failure.error.split('\n')[0]}`);
  return out.join('\n');
}

const mdEscape = (text: string) => text.replace(/\|/g, '\\|');

export function renderMarkdown(report: RunReport): string {
  const m = report.machine;
  const out: string[] = [
    `# Benchmark results`,
    '',
    `Run ${report.startedAt}, ${report.size} size, ${report.reps} repetitions per side, ${report.durationSeconds.toFixed(0)} s.`,
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}; load average (1/5/15 min) ${m.loadAverage.join(' / ')} at the start, ${(report.loadAverageAtEnd ?? []).join(' / ') || 'n/a'} at the end.`,
    '',
    'Each figure is the median of the repetitions with min–max. The baseline is the bare `ws` relay corking each socket per event-loop turn and encoding each live frame once for all its subscribers, as the gateway does, and started with the gateway\'s node flags (`GATEWAY_V8_FLAGS`; the transport\'s limit); its ratio is gateway ÷ corked bare of the medians, with the min–max of the per-repetition ratios. The uncorked bare relay (bare `ws` as it comes) and socket.io 4.8 with `connectionStateRecovery` ran in the same run, interleaved, where a cell shows a figure. For every figure the unit says which way is better: frames/s and events/s higher, the rest lower.',
    '',
    `| ${(Object.values(HEADINGS) as string[]).join(' | ')} |`,
    `|${Object.keys(HEADINGS).map(() => '---').join('|')}|`,
    ...tableRows(report).map(
      (row) =>
        `| ${row.workload} | ${mdEscape(row.metric)} | ${row.unit} | ${row.gateway} | ${row.baseline} | ${row.ratio} | ${row.uncorked} | ${row.socketio} | ${row.socketioRatio} |`,
    ),
    '',
    '| workload | target | met | measured |',
    '|---|---|---|---|',
  ];
  for (const result of report.workloads) {
    for (const check of result.checks) {
      const met = check.met === null ? 'reported' : check.met ? 'yes' : '**no**';
      out.push(`| ${result.id} | ${mdEscape(check.target)} | ${met} | ${mdEscape(check.detail)} |`);
    }
  }
  for (const failure of report.failures) out.push(`| ${failure.id} | (workload failed) | **no** | ${mdEscape(failure.error.split('\n')[0])} |`);
  out.push('');
  for (const result of report.workloads) {
    const params = Object.entries(result.params).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ');
    out.push(`- **${result.id}** (baseline: ${result.baseline}): ${params}.`);
    for (const note of result.notes) out.push(`  ${note}`);
  }
  out.push('');
  return out.join('\n');
}
