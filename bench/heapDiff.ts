/**
 * `npx tsx bench/heapDiff.ts <before.heapsnapshot> <after.heapsnapshot> [top]` — what was added
 * between two V8 heap snapshots, by node type and constructor name (count and self size), to
 * find where per-socket memory goes.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

function tally(path: string): Map<string, { count: number; size: number }> {
  const data = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = data.snapshot.meta.node_fields;
  const types = data.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < data.nodes.length; i += width) {
    const type = types[data.nodes[i + typeAt]];
    let name = data.strings[data.nodes[i + nameAt]];
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '(string)';
    else if (type === 'code' || type === 'hidden' || type === 'array') name = name.slice(0, 60);
    const key = `${type}: ${name}`;
    const entry = out.get(key) ?? { count: 0, size: 0 };
    entry.count++;
    entry.size += data.nodes[i + sizeAt];
    out.set(key, entry);
  }
  return out;
}

export function heapDiff(beforePath: string, afterPath: string, top = 30) {
  const before = tally(beforePath);
  const after = tally(afterPath);
  const rows = [...after].map(([key, a]) => {
    const b = before.get(key) ?? { count: 0, size: 0 };
    return { key, count: a.count - b.count, size: a.size - b.size };
  });
  rows.sort((x, y) => y.size - x.size);
  return rows.slice(0, top);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [before, after, topArg] = process.argv.slice(2);
  const perUnit = Number(process.env.PER ?? 1);
  for (const row of heapDiff(before, after, Number(topArg) || 30)) {
    console.log(`${(row.size / perUnit).toFixed(0).padStart(8)} B  ${(row.count / perUnit).toFixed(2).padStart(7)} ×  ${row.key}`);
  }
}
