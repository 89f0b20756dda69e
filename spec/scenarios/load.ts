/**
 * Reads scenario files and directories. A file that is not valid JSON or does not fit
 * scenario.schema.json is refused with every problem listed, before anything runs.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Scenario } from './format.js';
import { validateAgainstSchema, type JsonSchema } from './schemaCheck.js';

export const SCHEMA_PATH = fileURLToPath(new URL('./scenario.schema.json', import.meta.url));
export const LIBRARY_DIR = fileURLToPath(new URL('./library', import.meta.url));
export const SCENARIO_SUFFIX = '.scenario.json';

let schema: JsonSchema | null = null;
const loadSchema = (): JsonSchema => (schema ??= JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as JsonSchema);

export class ScenarioFileError extends Error {}

export function parseScenario(text: string, source: string): Scenario {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ScenarioFileError(`${source}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const problems = validateAgainstSchema(data, loadSchema());
  if (problems.length > 0) {
    throw new ScenarioFileError(`${source} does not fit scenario.schema.json:\n${problems.slice(0, 20).map((p) => `  ${p}`).join('\n')}`);
  }
  return data as Scenario;
}

export function loadScenario(path: string): Scenario {
  return parseScenario(readFileSync(path, 'utf8'), path);
}

/** Scenario files under a path (a file is returned as is), sorted by path. */
export function findScenarioFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  const out: string[] = [];
  for (const name of readdirSync(path).sort()) {
    const full = join(path, name);
    if (statSync(full).isDirectory()) out.push(...findScenarioFiles(full));
    else if (name.endsWith(SCENARIO_SUFFIX)) out.push(full);
  }
  return out;
}
