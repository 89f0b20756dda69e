// Builds the package into dist/: esbuild bundles the library (dist/index.js, its claudecodeui
// entry dist/claudecodeui.js, its ACP runtime entry dist/acp.js and its Redis cluster entry dist/cluster.js), the CLI (dist/cli.js) and the screen mirror worker
// (dist/screenMirrorWorker.js) as ESM for Node 20, with every dependency left external (native
// addons and xstate stay in node_modules); tsc then emits the .d.ts files of the public API.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

import { build } from 'esbuild';

const require = createRequire(import.meta.url);
rmSync('dist', { recursive: true, force: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
};

// The library and its claudecodeui and acp entries share one copy of every module (code splitting),
// so a gateway created through either is seen by the one chatRunRegistry/connectedClients.
await build({
  ...common,
  splitting: true,
  entryPoints: { index: 'gateway/index.ts', claudecodeui: 'gateway/hosts/claudecodeui.ts', acp: 'gateway/app/agents/index.ts', cluster: 'gateway/cluster.ts' },
  outdir: 'dist',
});
// gateway/app/cli.ts starts with its own hashbang, which esbuild keeps.
await build({ ...common, entryPoints: { cli: 'gateway/app/cli.ts' }, outdir: 'dist' });
chmodSync('dist/cli.js', 0o755);
// The screen mirror worker is its own entry: both bundles start it as ./screenMirrorWorker.js.
await build({ ...common, entryPoints: { screenMirrorWorker: 'gateway/shell/screenMirrorWorker.ts' }, outdir: 'dist' });
// So is the WAL checkpoint thread of the chat log's SQLite connection (./walCheckpointWorker.js).
await build({ ...common, entryPoints: { walCheckpointWorker: 'persistence/walCheckpointWorker.ts' }, outdir: 'dist' });
// The playground page is static: dist/cli.js serves it from dist/playground.
cpSync('gateway/app/playground', 'dist/playground', { recursive: true });

const tsc = require.resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
console.log('built dist/index.js, dist/claudecodeui.js, dist/acp.js, dist/cluster.js, dist/cli.js, dist/screenMirrorWorker.js, dist/walCheckpointWorker.js, dist/playground/ and dist/types/');
