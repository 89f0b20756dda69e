/**
 * The npm-test slice of the model-based chaos run: a seed-fixed 100 interleavings (`npm run chaos`
 * runs ≥ 1 000). What is checked after every interleaving is listed in support/chaosModel.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { runChaos } from './support/chaosModel.js';
import { watchProcessFailures } from './support/gateway.js';

const SEED = Number(process.env.CHAOS_SEED ?? 7_301);
const INTERLEAVINGS = Number(process.env.CHAOS_RUNS ?? 100);

test(`${INTERLEAVINGS} random interleavings of runs, aborts, subscribes, disconnects, slow readers and restarts keep every invariant`, async () => {
  const failures = watchProcessFailures();
  try {
    const result = await runChaos({ interleavings: INTERLEAVINGS, seed: SEED, maxCommands: 40 });
    console.log(
      `  ${result.interleavings} interleavings, ${result.stats.restarts} restarts, ${result.stats.framesChecked} frames checked, ` +
        `${result.stats.lagEpisodes} lag episodes, ${(result.ms / 1000).toFixed(1)} s\n  commands ${JSON.stringify(result.stats.commands)}`,
    );
    assert.is(result.interleavings, INTERLEAVINGS);
    assert.ok(result.stats.restarts > 0, 'restarts happened');
  } finally {
    failures.stop();
  }
  assert.equal(failures.unhandled, []);
});

test.run();
