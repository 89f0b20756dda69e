/**
 * `npx tsx bench/profile.ts <file.cpuprofile | dir> [top]` — the self time of a V8 CPU profile
 * (`node --cpu-prof`, written by `npm run bench -- --profile`) by function and by file, so a
 * note can cite where a workload's time goes.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  share: number;
}

const root = fileURLToPath(new URL('..', import.meta.url));

function where(url: string): string {
  if (!url) return '(native)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(root) ? relative(root, path) : path;
}

/** A profile file, or the main-thread profile (thread id 0) in a `--cpu-prof-dir` directory. */
export function mainThreadProfile(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const files = readdirSync(path).filter((name) => name.endsWith('.cpuprofile')).sort();
  const main = files.filter((name) => /\.\d+\.0\.\d+\.cpuprofile$/.test(name));
  const pick = (main.length ? main : files).at(-1);
  if (!pick) throw new Error(`no .cpuprofile in ${path}`);
  return join(path, pick);
}

export function summarizeProfile(path: string, top = 25): { totalMs: number; idleMs: number; functions: ProfileEntry[]; files: ProfileEntry[] } {
  const profile = JSON.parse(readFileSync(mainThreadProfile(path), 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    totalUs += us;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const location = where(url);
    const key = `${functionName || '(anonymous)'}  ${location}${url ? `:${lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const group = location.includes('node_modules/')
      ? location.replace(/^.*node_modules\/((?:@[^/]+\/)?[^/]+).*$/, 'node_modules/$1')
      : location.startsWith('node:') ? 'node: (core)' : location;
    file.set(group, (file.get(group) ?? 0) + us);
  }
  const busy = totalUs - idleUs;
  const rank = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: us / busy }));
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, functions: rank(fn), files: rank(file) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [path, topArg] = process.argv.slice(2);
  if (!path) {
    console.error('usage: tsx bench/profile.ts <file.cpuprofile | profile dir> [top]');
    process.exit(2);
  }
  const summary = summarizeProfile(path, Number(topArg) || 25);
  console.log(`${mainThreadProfile(path)}: ${summary.totalMs.toFixed(0)} ms sampled, ${summary.idleMs.toFixed(0)} ms idle`);
  console.log('\nself time by file (share of busy time):');
  for (const e of summary.files) console.log(`  ${(e.share * 100).toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.name}`);
  console.log('\nself time by function:');
  for (const e of summary.functions) console.log(`  ${(e.share * 100).toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.name}`);
}
