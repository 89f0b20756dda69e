/**
 * The scenario library (spec/scenarios/library): every file runs against the real gateway, one
 * test each. A failing scenario's message shows the first frame that differed, expected beside
 * actual. The runner itself is checked too: a wrong expectation must fail, and say where.
 */
import { relative } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { findScenarioFiles, LIBRARY_DIR, loadScenario, parseScenario, ScenarioFileError } from './scenarios/load.js';
import { runScenario } from './scenarios/runner.js';
import type { Scenario } from './scenarios/format.js';

const files = findScenarioFiles(LIBRARY_DIR);

test('the library holds at least 40 scenarios', () => {
  assert.ok(files.length >= 40, `only ${files.length} scenario files`);
});

for (const file of files) {
  const name = relative(LIBRARY_DIR, file);
  test(`scenario ${name}`, async () => {
    const result = await runScenario(loadScenario(file), { source: name });
    if (!result.ok) assert.unreachable(result.failure ?? 'failed');
  });
}

const streamOnce: Scenario = {
  name: 'runner self-check',
  sessions: { s1: {} },
  steps: [
    { connect: 'a' },
    { send: 'a', frame: { type: 'chat.send', sessionId: 's1', content: 'x' } },
    { runtime: 'r1', start: true },
    { runtime: 'r1', emit: [{ kind: 'text', content: 'right' }, { kind: 'complete', exitCode: 0 }] },
    { expect: 'a', frames: [{ kind: 'text', seq: 1, content: 'wrong' }] },
  ],
};

test('a frame that differs fails the scenario, naming the step and showing both frames', async () => {
  const result = await runScenario(streamOnce);
  assert.is(result.ok, false);
  assert.match(result.failure ?? '', /step 5 \(expect "a"\)/);
  assert.match(result.failure ?? '', /differs at content: expected "wrong", got "right"/);
  assert.match(result.failure ?? '', /expected\s+│ actual/);
});

test('a frame no step expected fails the scenario after the last step', async () => {
  const scenario: Scenario = { ...streamOnce, steps: [...streamOnce.steps.slice(0, 4), { expect: 'a', frames: [{ kind: 'text', seq: 1 }] }] };
  const result = await runScenario(scenario);
  assert.is(result.ok, false);
  assert.match(result.failure ?? '', /after the last step:\na: received 1 frame\(s\) no step expected/);
});

test('an expectation must state seq for a sequenced frame', async () => {
  const scenario: Scenario = { ...streamOnce, steps: [...streamOnce.steps.slice(0, 4), { expect: 'a', frames: [{ kind: 'text' }, { kind: 'complete', seq: 2 }] }] };
  const result = await runScenario(scenario);
  assert.match(result.failure ?? '', /the frame carries seq 1: the expectation must state it/);
});

test('a file that does not fit the schema is refused before it runs', () => {
  assert.throws(() => parseScenario('{"name":"x","steps":[{"conect":"a"}]}', 'typo.json'), (error: unknown) =>
    error instanceof ScenarioFileError && /steps\[0\]/.test(error.message));
  assert.throws(() => parseScenario('{"name":"x","steps":[{"send":"a","frame":{},"repeat":0}]}', 'zero.json'), /repeat: must be >= 1/);
  assert.throws(() => parseScenario('not json', 'bad.json'), /not valid JSON/);
});

test.run();
