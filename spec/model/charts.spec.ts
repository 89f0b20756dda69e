/**
 * docs/machines/ is generated from the machines (`npm run charts`): this fails when a machine
 * changed and its page was not regenerated, so the diagrams cannot drift from the code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { chartFiles, CHARTS_DIR } from '../tools/charts.js';
import { CHART_SOURCES } from '../tools/chartSources.js';
import { renderChart } from '../tools/machineChart.js';

test('docs/machines/ matches the machines (run `npm run charts` after changing one)', () => {
  for (const [path, content] of chartFiles()) {
    const shown = relative(process.cwd(), path);
    assert.ok(existsSync(path), `${shown} is missing`);
    assert.fixture(readFileSync(path, 'utf8'), content, `${shown} is stale`);
  }
});

test('a page shows every state in the diagram and every transition in the table', () => {
  const page = renderChart(CHART_SOURCES.find((source) => source.name === 'chatRun')!);
  for (const state of ['running', 'aborting', 'abortFailed', 'completed', 'done']) assert.match(page, new RegExp(`\\n  ${state}\\n`));
  assert.match(page, /aborting --> abortFailed : after abortTimeout/);
  assert.match(page, /\| abortFailed \| `always` \| isSettled \| completed \| completeAborted, endRun \|/);
  assert.is(page.split('\n').filter((line) => /^\| (running|aborting|abortFailed|completed)/.test(line)).length, 19);
  // Handlers every state shares are listed once, on the machine itself.
  assert.is(page.split('\n').filter((line) => /^\| \(chatRun\)/.test(line)).length, 3);
});

test('every machine has a page', () => {
  assert.is(CHART_SOURCES.length, 4, 'chatSession, chatRun, shellSession, pluginTunnel (the root is not a machine)');
  assert.ok(CHARTS_DIR.endsWith('docs/machines/'));
});

test.run();
