/**
 * Measures the screen restore for a full 1000-line scrollback: the size of the restore frame,
 * the server's serialize time, and attach → restore-frame latency over a real socket.
 *
 *   node --import tsx spec/support/shellRestoreBench.ts [columns]
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';

import { createScreenMirror } from '../../gateway/shell/screenMirror.js';
import { startShellHarness } from './shellHarness.js';

const cols = Number(process.argv[2] ?? 120);
const rows = 40;
const LINES = 1200;
/** Colored, ls-like lines: SGR runs make the serialized form bigger than the text. */
const FILL = `for i in $(seq 1 ${LINES}); do printf '\\e[32m%05d\\e[0m \\e[1;34m%-24s\\e[0m \\e[2m%s\\e[0m\\n' $i "src/file-$i.ts" "lorem ipsum dolor sit amet consectetur adipiscing elit"; done; echo fill-$((1+1)); read -r x`;

const harness = await startShellHarness();
const first = await harness.connect({ cols, rows, mirror: false });
first.init({ projectPath: os.tmpdir(), initialCommand: FILL });
await first.waitForOutput('fill-2', 30_000);

const latencies: number[] = [];
let size = 0;
for (let i = 0; i < 10; i++) {
  const viewer = await harness.connect({ cols, rows, mirror: false });
  const started = performance.now();
  viewer.init({ projectPath: os.tmpdir(), initialCommand: FILL });
  await viewer.waitFor(() => (viewer.receivedChars > 1000 ? true : null), 'the restore frame');
  latencies.push(performance.now() - started);
  size = viewer.receivedChars;
  await viewer.close();
}

// The serialize step alone, on a mirror fed the same kind of content.
const mirror = createScreenMirror({ cols, rows, scrollback: 1000, restoreMaxCells: 500_000 });
for (let i = 1; i <= LINES; i++) {
  mirror.write(`\x1b[32m${String(i).padStart(5, '0')}\x1b[0m \x1b[1;34m${`src/file-${i}.ts`.padEnd(24)}\x1b[0m \x1b[2mlorem ipsum dolor sit amet consectetur adipiscing elit\x1b[0m\r\n`);
}
const serializeMs = await new Promise<number[]>((resolve) => {
  mirror.whenParsed(() => {
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      mirror.restorePayload('banner\r\n');
      times.push(performance.now() - t);
    }
    resolve(times);
  });
});
mirror.dispose();

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`terminal ${cols}x${rows}, scrollback 1000 (full), ${LINES} colored lines printed`);
console.log(`restore frame (JSON text incl. notice frame): ${(size / 1024).toFixed(1)} KiB`);
console.log(`serialize: median ${median(serializeMs).toFixed(1)} ms (20 runs)`);
console.log(`attach → restore frame over a socket: median ${median(latencies).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms (10 attaches)`);
await harness.close();
