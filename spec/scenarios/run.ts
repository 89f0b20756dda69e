/**
 * `npm run scenario -- [file or directory …]`: runs scenario files against the real gateway and
 * prints one line per scenario, with the first difference of each failing one (expected beside
 * actual). No argument runs the whole library. Exit code 0 when every scenario passed.
 *
 *   --repeat N   run each scenario N times (a scenario must give the same result every time)
 */
import { relative } from 'node:path';

import { findScenarioFiles, LIBRARY_DIR, loadScenario, ScenarioFileError } from './load.js';
import { runScenario } from './runner.js';

async function main(argv: string[]): Promise<number> {
  let repeat = 1;
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--repeat') repeat = Math.max(1, Number(argv[++i]) || 1);
    else paths.push(argv[i]);
  }
  const files = (paths.length > 0 ? paths : [LIBRARY_DIR]).flatMap(findScenarioFiles);
  if (files.length === 0) {
    console.error('no scenario files found (they end in .scenario.json)');
    return 1;
  }
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    const shown = relative(process.cwd(), file);
    let scenario;
    try {
      scenario = loadScenario(file);
    } catch (error) {
      failed += 1;
      console.log(`FAIL ${shown}\n${error instanceof ScenarioFileError ? error.message : String(error)}\n`);
      continue;
    }
    for (let round = 1; round <= repeat; round++) {
      const result = await runScenario(scenario);
      const label = repeat > 1 ? ` (run ${round}/${repeat})` : '';
      if (result.ok) {
        passed += 1;
        console.log(`ok   ${shown}${label}  ${result.durationMs} ms`);
      } else {
        failed += 1;
        console.log(`FAIL ${shown}${label}\n${result.failure}\n`);
      }
    }
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
