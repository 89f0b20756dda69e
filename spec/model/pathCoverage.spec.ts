/**
 * Model-based path coverage of every machine in machines/ (the root, `gatewayRoot.ts`, is plain
 * actor logic with one state, tested in spec/gatewayRoot.spec.ts): xstate/graph generates the paths,
 * each runs on a live actor with fake effects, the machine's invariants are checked after every
 * step, and every declared state and transition must have been taken. Prints the counts.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { chatRunMachine } from '../../machines/chatRun.machine.js';
import { chatRunModel, createChatRunModel } from './chatRun.model.js';
import { chatSessionModel } from './chatSession.model.js';
import { pluginTunnelModel } from './pluginTunnel.model.js';
import { coverMachine, type CoverageReport, type MachineModel } from './pathCoverage.js';
import { shellSessionModel } from './shellSession.model.js';

const MODELS: MachineModel[] = [chatSessionModel, chatRunModel, shellSessionModel, pluginTunnelModel];
const reports: CoverageReport[] = [];

test('every machine in machines/ has a model', () => {
  const machinesDir = fileURLToPath(new URL('../../machines/', import.meta.url));
  const machines = readdirSync(machinesDir)
    .filter((name) => name.endsWith('.machine.ts'))
    .map((name) => name.slice(0, -'.machine.ts'.length))
    .sort();
  assert.equal(machines, MODELS.map((model) => model.name).sort());
});

for (const model of MODELS) {
  test(`${model.name}: every generated path keeps the invariants, every state and transition is taken`, async () => {
    const report = await coverMachine(model);
    reports.push(report);
    assert.equal(report.states.missing, [], `${model.name}: states never entered`);
    assert.equal(report.transitions.missing, [], `${model.name}: transitions never taken`);
    assert.ok(report.paths > 0);
  });
}

test('a machine that breaks the model fails its paths', async () => {
  // A run that never recognises its runtime's complete: it must not pass as the real one.
  const broken = createChatRunModel(chatRunMachine.provide({ guards: { isComplete: () => false } }));
  try {
    await coverMachine(broken);
  } catch (error) {
    assert.match(String(error), /invariant broken/);
    return;
  }
  assert.unreachable('the broken machine passed');
});

test('coverage summary', () => {
  const rows = reports.map((r) => `  ${r.name.padEnd(14)} states ${r.states.covered}/${r.states.total}  transitions ${r.transitions.covered}/${r.transitions.total}  paths ${r.paths}  steps ${r.steps}`);
  const total = (pick: (r: CoverageReport) => number) => reports.reduce((sum, r) => sum + pick(r), 0);
  console.log(
    `\nmodel-based path coverage\n${rows.join('\n')}\n  ${'total'.padEnd(14)} states ${total((r) => r.states.covered)}/${total((r) => r.states.total)}  transitions ${total((r) => r.transitions.covered)}/${total((r) => r.transitions.total)}  paths ${total((r) => r.paths)}  steps ${total((r) => r.steps)}\n`,
  );
  assert.is(reports.length, MODELS.length);
});

test.run();
