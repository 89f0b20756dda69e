/**
 * `npm run fuzz`: the full fuzz run, ≥ 100 000 frames per route plus raw-socket garbage, with the
 * same assertions as spec/reliability/fuzz.spec.ts. Prints a Markdown table for RELIABILITY.md.
 *
 *   npm run fuzz                      every route, 100 000 frames each, seed 1
 *   FUZZ_FRAMES=20000 FUZZ_SEED=7 npm run fuzz -- /ws /shell
 */
import { connect, createScriptedRuntime } from '../support/chatHarness.js';
import { fuzzChat, fuzzPlugin, fuzzRawSockets, fuzzShell, type FuzzRunOptions } from './support/fuzzEngine.js';
import { describeVerdict, FUZZ_LIMITS, fuzzOneRoute, RETAINED_SLACK_BYTES, type RouteVerdict } from './support/fuzzSession.js';
import { MiB, removeDir, startReliabilityGateway, watchProcessFailures } from './support/gateway.js';

const frames = Number(process.env.FUZZ_FRAMES ?? 100_000);
const seed = Number(process.env.FUZZ_SEED ?? 1);
const rawConnections = Number(process.env.FUZZ_RAW ?? 3000);
const only = process.argv.slice(2);
const wanted = (route: string) => only.length === 0 || only.includes(route);

const failures = watchProcessFailures();
const options: FuzzRunOptions = { frames, seed };
const verdicts: RouteVerdict[] = [];
const problems: string[] = [];
const started = Date.now();

const routes: Array<[string, Parameters<typeof fuzzOneRoute>[0]]> = [
  ['/ws', (gw, runtime) => fuzzChat({ gw, runtime }, options)],
  ['/shell', (gw) => fuzzShell(gw, options)],
  ['/plugin-ws', (gw) => fuzzPlugin(gw, options)],
];

for (const [route, run] of routes) {
  if (!wanted(route)) continue;
  console.log(`fuzzing ${route} with ${frames} frames (seed ${seed})…`);
  try {
    const verdict = await fuzzOneRoute(run);
    verdicts.push(verdict);
    console.log(`  ${describeVerdict(verdict)}`);
    if (verdict.retainedBytes >= RETAINED_SLACK_BYTES) problems.push(`${route}: retained ${(verdict.retainedBytes / MiB).toFixed(1)} MiB`);
    if (verdict.health !== 'ok') problems.push(`${route}: health ${verdict.health}`);
  } catch (error) {
    problems.push(`${route}: ${(error as Error).message}`);
    console.log(`  FAILED: ${(error as Error).message}`);
  }
}

let raw = '';
if (wanted('raw')) {
  console.log(`raw sockets: ${rawConnections} connections…`);
  const gw = await startReliabilityGateway({ runtime: createScriptedRuntime(), limits: FUZZ_LIMITS });
  try {
    const stats = await fuzzRawSockets(gw.h.port, ['/ws', '/shell', '/plugin-ws/echo'], { connections: rawConnections, seed });
    const after = await connect(gw.h.url);
    after.send({ type: 'chat.subscribe', sessions: [{ sessionId: 'after-raw' }] });
    await after.waitFor((f) => f.kind === 'chat_subscribed');
    await after.close();
    raw = `| raw TCP after upgrade / instead of HTTP | ${stats.connections} connections, ${stats.bytes} bytes | ${JSON.stringify(stats.outcomes)} | ${(stats.ms / 1000).toFixed(1)} s | still serving |`;
    console.log(`  ${raw}`);
  } catch (error) {
    problems.push(`raw: ${(error as Error).message}`);
  } finally {
    await gw.close();
    removeDir(gw.h.dir);
  }
}

failures.stop();
problems.push(...failures.unhandled);

console.log(`\n## Fuzz run (seed ${seed}, ${new Date().toISOString().slice(0, 10)}, ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
console.log('| route | frames (batches) | closes the protocol predicts | time | retained after / health |');
console.log('|---|---|---|---|---|');
for (const v of verdicts) {
  console.log(
    `| \`${v.route}\` | ${v.frames} (${v.batches}), ${v.replies} answers checked | ${JSON.stringify(v.closes)} | ${(v.ms / 1000).toFixed(0)} s | ${(v.retainedBytes / MiB).toFixed(2)} MiB / ${v.health} |`,
  );
}
if (raw) console.log(raw);
console.log(`\nunhandled rejections / uncaught exceptions: ${failures.unhandled.length}`);
if (problems.length > 0) {
  console.log(`\nFAILED:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('\nall assertions held');
process.exit(0);
