/**
 * `npm run charts`: writes docs/machines/<machine>.md (a Mermaid state diagram and a table of
 * every transition, generated from the machine itself) and docs/machines/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CHART_SOURCES } from './chartSources.js';
import { renderChart, renderIndex } from './machineChart.js';

export const CHARTS_DIR = fileURLToPath(new URL('../../docs/machines/', import.meta.url));

/** Every file the charts consist of: path → content. */
export function chartFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const source of CHART_SOURCES) files.set(join(CHARTS_DIR, `${source.name}.md`), renderChart(source));
  files.set(join(CHARTS_DIR, 'README.md'), renderIndex(CHART_SOURCES));
  return files;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  mkdirSync(CHARTS_DIR, { recursive: true });
  for (const [path, content] of chartFiles()) {
    writeFileSync(path, content);
    console.log(`wrote ${path}`);
  }
}
