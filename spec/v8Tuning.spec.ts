import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { GATEWAY_V8_FLAGS } from '../gateway/v8Tuning.js';

const accepts = (flags: readonly string[]) => spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8', timeout: 30_000 });

const v8Tuning = suite('v8Tuning');

// `v8.setFlagsFromString` ignores a flag it does not know: a Node whose V8 dropped one would
// silently run untuned. node itself refuses unknown flags, so it is the judge.
v8Tuning('node accepts every flag the gateway sets', () => {
  assert.ok(GATEWAY_V8_FLAGS.length > 0);
  for (const flag of GATEWAY_V8_FLAGS) {
    const result = accepts([flag]);
    assert.is(result.status, 0, `${flag}: ${result.stderr}`);
  }
});

v8Tuning('the check refuses a flag V8 does not have', () => {
  const result = accepts(['--no-such-v8-flag-for-agent-gateway']);
  assert.is.not(result.status, 0);
  assert.match(result.stderr, /bad option/);
});

// What the CLI's banner line and an embedding host read: the flags node was started without.
v8Tuning('v8FlagsMissingFromCommandLine names --no-memory-reducer unless node was started with it', () => {
  const missing = (flags: readonly string[]) => {
    const script = "import('./gateway/v8Tuning.ts').then((m) => console.log(JSON.stringify(m.v8FlagsMissingFromCommandLine())))";
    const result = spawnSync(process.execPath, [...flags, '--import', 'tsx', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.is(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as string[];
  };
  assert.equal(missing([]), ['--no-memory-reducer']);
  assert.equal(missing(['--no-allocation-site-pretenuring']), ['--no-memory-reducer']);
  assert.equal(missing(GATEWAY_V8_FLAGS), []);
});

// The setting governs what is allocated after it: the CLI's first import applies it.
v8Tuning('the CLI applies it before anything else is loaded', () => {
  const source = readFileSync(new URL('../gateway/app/cli.ts', import.meta.url), 'utf8');
  const imports = [...source.matchAll(/^import\s+(?:[^'"]*\s+from\s+)?'([^']+)';/gm)].map((match) => match[1]);
  assert.is(imports[0], './tunedV8.js');
});

v8Tuning.run();
