#!/usr/bin/env node
// Runs every spec file (spec/**/*.spec.ts) in its own Node process, two at a time, with a
// per-file timeout, then prints one closing line "N passed, N failed". A file that crashes,
// hangs or prints no uvu summary counts as one failure, so a broken suite can never pass silently.
//
// usage: node spec/run.mjs [--unit] [substring …]
//   substring: only files whose path contains one of the substrings
//   --unit:    only the fast suite (UNIT_SPECS below; `npm run test:unit`)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const FILE_TIMEOUT_MS = Number(process.env.SPEC_FILE_TIMEOUT_MS ?? 180_000);
const CONCURRENCY = Number(process.env.SPEC_CONCURRENCY ?? 2);

function findSpecs(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...findSpecs(full));
    else if (name.endsWith('.spec.ts')) out.push(full);
  }
  return out.sort();
}

/**
 * The fast suite: the machines (statecharts, model-based coverage, the code tables), the codecs,
 * the config, persistence on temp SQLite files, and the architecture check. No PTY, browser,
 * child process or gateway over HTTP, so it runs in seconds. Patterns match the path from the
 * repository root; a new spec of one of these kinds joins by its name. They run in this order, so
 * the longest (the model-based path coverage) starts first and the two workers finish together.
 */
const UNIT_SPECS = [
  /^spec\/model\//,
  /^spec\/\w+Machines?\.spec\.ts$/, // chatMachines, shellSessionMachine, pluginTunnelMachine
  /^spec\/gatewayRoot\.spec\.ts$/,
  /^spec\/(protocolCodes|pluginCloseCodes)\.spec\.ts$/,
  /^spec\/\w*[cC]odec\w*\.spec\.ts$/,
  /^spec\/config\.spec\.ts$/,
  /^spec\/persistence\.[\w.]+\.spec\.ts$/,
  /^spec\/upgrade\w*\.spec\.ts$/,
  /^spec\/architecture\.spec\.ts$/,
];

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((arg) => arg !== '--unit');
const specPath = (file) => relative(root, file).split('\\').join('/');
const unitRank = (file) => UNIT_SPECS.findIndex((pattern) => pattern.test(specPath(file)));
let files = findSpecs(join(root, 'spec')).filter((file) => {
  if (unitOnly && unitRank(file) === -1) return false;
  return filters.length === 0 || filters.some((f) => specPath(file).includes(f));
});
if (unitOnly) files = files.map((file) => [unitRank(file), file]).sort(([a], [b]) => a - b).map(([, file]) => file);

const stripAnsi = (text) => text.replace(/\x1b\[[0-9;]*m/g, '');

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const text = stripAnsi(output);
      const num = (label) => {
        const m = text.match(new RegExp(`${label}:\\s+(\\d+)`));
        return m ? Number(m[1]) : null;
      };
      const total = num('Total');
      const passed = num('Passed');
      const skipped = num('Skipped') ?? 0;
      let failed = total !== null && passed !== null ? total - passed - skipped : 1;
      if ((code !== 0 || timedOut) && failed === 0) failed = 1;
      resolve({ file, code, timedOut, text, passed: passed ?? 0, failed, skipped, ms: Date.now() - started });
    });
  });
}

const results = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    const result = await runFile(file);
    results.push(result);
    const name = relative(root, file);
    const status = result.failed === 0 ? 'ok  ' : 'FAIL';
    console.log(`${status} ${name}  (${result.passed} passed, ${result.failed} failed, ${(result.ms / 1000).toFixed(1)}s)`);
    if (result.failed !== 0) {
      console.log(result.timedOut ? `  timed out after ${FILE_TIMEOUT_MS} ms` : '');
      console.log(result.text.split('\n').map((line) => `  | ${line}`).join('\n'));
    }
  }
}
await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));

const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const skipped = results.reduce((n, r) => n + r.skipped, 0);
console.log(`\n${files.length} spec files`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 && files.length > 0 ? 0 : 1);
