/**
 * The npm-test slice of the fuzzer: seed-fixed, 1 000 frames per route (FUZZ_FRAMES, FUZZ_SEED
 * override). `npm run fuzz` runs the same drivers with ≥ 100 000 frames per route. RELIABILITY.md
 * lists what is asserted.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, createScriptedRuntime } from '../support/chatHarness.js';
import { fuzzChat, fuzzPlugin, fuzzRawSockets, fuzzShell } from './support/fuzzEngine.js';
import { describeVerdict, FUZZ_LIMITS, fuzzOneRoute, RETAINED_SLACK_BYTES, type RouteVerdict } from './support/fuzzSession.js';
import { MiB, removeDir, startReliabilityGateway, watchProcessFailures } from './support/gateway.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_240_611);
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 1000);

const test = suite('reliability: fuzzing /ws, /shell, /plugin-ws and raw sockets');

const failures = watchProcessFailures();

function judge(verdict: RouteVerdict) {
  console.log(`  ${describeVerdict(verdict)}`);
  assert.ok(verdict.frames >= FRAMES, `sent ${verdict.frames} frames`);
  assert.ok(verdict.retainedBytes < RETAINED_SLACK_BYTES, `memory back near baseline (grew ${(verdict.retainedBytes / MiB).toFixed(1)} MiB)`);
  assert.is(verdict.health, 'ok');
}

test('/ws: every frame answered as the protocol says, in order, socket usable, memory back to baseline', async () => {
  judge(await fuzzOneRoute((gw, runtime) => fuzzChat({ gw, runtime }, { frames: FRAMES, seed: SEED })));
});

test('/shell: error lines and error frames as the protocol says, socket usable, PTYs reaped', async () => {
  judge(await fuzzOneRoute((gw) => fuzzShell(gw, { frames: FRAMES, seed: SEED })));
});

test('/plugin-ws: every frame relayed byte for byte, in order, text as text and binary as binary', async () => {
  judge(await fuzzOneRoute((gw) => fuzzPlugin(gw, { frames: FRAMES, seed: SEED })));
});

test('raw bytes where frames belong, and garbage instead of HTTP: the gateway keeps serving', async () => {
  const gw = await startReliabilityGateway({ runtime: createScriptedRuntime(), limits: FUZZ_LIMITS });
  try {
    const stats = await fuzzRawSockets(gw.h.port, ['/ws', '/shell', '/plugin-ws/echo'], { connections: 150, seed: SEED });
    console.log(`  raw: ${stats.connections} connections, ${stats.bytes} bytes, outcomes ${JSON.stringify(stats.outcomes)}`);
    const after = await connect(gw.h.url);
    after.send({ type: 'chat.subscribe', sessions: [{ sessionId: 'after-raw' }] });
    await after.waitFor((f) => f.kind === 'chat_subscribed');
    await after.close();
  } finally {
    await gw.close();
    removeDir(gw.h.dir);
  }
});

test('no unhandled rejection or uncaught exception anywhere above', () => {
  failures.stop();
  assert.equal(failures.unhandled, []);
});

test.run();
