/**
 * `npm run chaos`: ≥ 1 000 model-based interleavings (spec/reliability/support/chaosModel.ts),
 * in rounds of 100 with consecutive seeds so progress shows and a failure names its seed.
 *
 *   npm run chaos                          1 000 interleavings from seed 1
 *   CHAOS_RUNS=5000 CHAOS_SEED=42 npm run chaos
 */
import { runChaos, type ChaosStats } from './support/chaosModel.js';
import { watchProcessFailures } from './support/gateway.js';

const total = Number(process.env.CHAOS_RUNS ?? 1000);
const seed = Number(process.env.CHAOS_SEED ?? 1);
const maxCommands = Number(process.env.CHAOS_MAX_COMMANDS ?? 80);
const ROUND = 100;

const failures = watchProcessFailures();
const started = Date.now();
const totals: ChaosStats = { commands: {}, restarts: 0, framesChecked: 0, lagEpisodes: 0 };
let done = 0;
let failed: string | null = null;

for (let round = 0; done < total; round++) {
  const interleavings = Math.min(ROUND, total - done);
  try {
    const result = await runChaos({ interleavings, seed: seed + round, maxCommands });
    done += result.interleavings;
    totals.restarts += result.stats.restarts;
    totals.framesChecked += result.stats.framesChecked;
    totals.lagEpisodes += result.stats.lagEpisodes;
    for (const [name, n] of Object.entries(result.stats.commands)) totals.commands[name] = (totals.commands[name] ?? 0) + n;
    console.log(`seed ${seed + round}: ${done}/${total} interleavings ok (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  } catch (error) {
    failed = (error as Error).message;
    console.log(`seed ${seed + round}: FAILED\n${failed}`);
    break;
  }
}
failures.stop();

const commands = Object.values(totals.commands).reduce((a, b) => a + b, 0);
console.log(`\n## Chaos run (seeds ${seed}–${seed + Math.ceil(total / ROUND) - 1}, ${new Date().toISOString().slice(0, 10)})\n`);
console.log(`| interleavings | commands run | gateway restarts | slow-reader lag episodes | frames checked client-side | time |`);
console.log('|---|---|---|---|---|---|');
console.log(`| ${done} | ${commands} | ${totals.restarts} | ${totals.lagEpisodes} | ${totals.framesChecked} | ${((Date.now() - started) / 1000).toFixed(0)} s |`);
console.log(`\ncommands: ${Object.entries(totals.commands).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(`unhandled rejections / uncaught exceptions: ${failures.unhandled.length}`);
if (failed || failures.unhandled.length > 0) process.exit(1);
console.log('every invariant held');
process.exit(0);
