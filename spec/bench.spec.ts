/**
 * The benchmark harness works: every workload runs once at a tiny size against the real gateway
 * and the bare relay (all in their own processes), and reports finite figures for both sides.
 * No timing is asserted (benchmarks are not tests); what is asserted is that each workload ran,
 * measured both sides, and saw every frame and byte exactly once.
 */
import fs from 'node:fs';
import os from 'node:os';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { renderMarkdown, renderText, type RunReport } from '../bench/lib/report.js';
import { runBench } from '../bench/lib/runner.js';
import { WORKLOADS } from '../bench/workloads/index.js';

const outDir = fs.mkdtempSync(os.tmpdir() + '/ag-bench-');
const lines: string[] = [];
let report: RunReport;

/** Checks about correctness rather than speed: these must hold even at a tiny size. */
const CORRECTNESS = /once|every byte|reconnected|0 gaps/;

test.before(async () => {
  report = await runBench({ ids: [], size: 'tiny', reps: 1, profile: false, outDir, log: (line) => lines.push(line) });
});

test('every workload ran without failing', () => {
  assert.equal(report.failures, [], lines.join('\n'));
  assert.equal(
    report.workloads.map((w) => w.id),
    WORKLOADS.map((w) => w.id),
  );
});

test('each workload measured both sides, interleaved in the same run', () => {
  for (const result of report.workloads) {
    assert.ok(result.metrics.length > 0, `${result.id} reported no metric`);
    for (const m of result.metrics) {
      assert.ok(m.runs.gateway.length >= 1 && m.runs.baseline.length >= 1, `${result.id} / ${m.label}: a side has no run`);
      for (const value of [...m.runs.gateway, ...m.runs.baseline]) {
        assert.ok(Number.isFinite(value), `${result.id} / ${m.label}: ${value} is not a figure`);
      }
    }
  }
});

test('no frame lost or doubled, no byte missing, every socket back', () => {
  const correctness = report.workloads.flatMap((w) => w.checks.filter((c) => CORRECTNESS.test(c.target)).map((c) => ({ id: w.id, ...c })));
  assert.ok(correctness.length >= 5, 'the correctness checks are missing');
  for (const check of correctness) assert.ok(check.met, `${check.id}: ${check.target} — ${check.detail}`);
});

test('the peers ran beside the corked baseline, and socket.io recovered its sessions', () => {
  const peersOf = (id: string) => report.workloads.find((w) => w.id === id)?.metrics.map((m) => Object.keys(m.peers ?? {}).sort().join(','));
  for (const id of ['fanout', 'latency', 'storm']) {
    for (const peers of peersOf(id) ?? []) assert.is(peers, 'socketio,uncorked', `${id}: a metric without both peers`);
  }
  for (const peers of peersOf('memory') ?? []) assert.is(peers, 'socketio', 'memory: a metric without socket.io');
  const recovery = report.workloads.find((w) => w.id === 'storm')?.checks.find((c) => c.target.startsWith('socket.io'));
  assert.ok(recovery, 'the storm reports socket.io recovery');
  // Every socket socket.io held a session for came back through connectionStateRecovery, with nothing lost or doubled.
  assert.match(recovery!.detail, /^0 gaps, 0 duplicates; (\d+) of \1 sockets recovered/);
});

test('the report renders every workload', () => {
  const text = renderText(report);
  const markdown = renderMarkdown(report);
  for (const { id } of WORKLOADS) {
    assert.ok(text.includes(id), `${id} missing from the table`);
    assert.ok(markdown.includes(`| ${id} |`), `${id} missing from the markdown table`);
  }
  assert.ok(markdown.includes('| gateway | corked bare | gateway ÷ corked bare | uncorked bare | socket.io | gateway ÷ socket.io |'), 'the side-by-side columns');
});

test.after(() => fs.rmSync(outDir, { recursive: true, force: true }));

test.run();
