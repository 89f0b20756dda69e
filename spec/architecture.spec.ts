/**
 * The layers of docs/ARCHITECTURE.md, enforced: every TypeScript file of the repository imports
 * only what its folder may import (static imports, `export … from`, `import x = require()`, and
 * dynamic `import()`, read from the syntax tree, so an `import(` inside a string is not one). The
 * table is data here AND a table in the doc ("## Layers"); the doc's rows are parsed and must
 * equal this data, so the rule and its documentation cannot drift apart.
 *
 * Machines are also checked for purity: no timer, clock or process of their own (every wait is an
 * `after` delay on the injected XState clock).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** One allowance: a folder (`machines/`), a package (`xstate`, which covers `xstate/graph`), or `node:*`. */
interface Allow {
  item: string;
  /** A folder carved out of `item` (`gateway/` but not `gateway/app/`). */
  not?: string;
}

interface Layer {
  /** Repository folders with a trailing slash. */
  folders: string[];
  /** Sub-folders that are layers of their own (the table says "everything outside …"). */
  outside: string[];
  allow: Allow[];
  /** The folder of another layer whose allowances this one has too. */
  inherits: string | null;
  /** Any package of package.json `dependencies` too. */
  dependencies: boolean;
  /** No rule at all. */
  everything: boolean;
  /** A file that may re-export (`export … from`, not import) from a folder its layer may not import. */
  reexports: Array<{ file: string; from: string }>;
}

const layer = (fields: Partial<Layer> & { folders: string[] }): Layer => ({
  outside: [],
  allow: [],
  inherits: null,
  dependencies: false,
  everything: false,
  reexports: [],
  ...fields,
});

const allow = (...items: string[]): Allow[] => items.map((item) => ({ item }));

/** The table of docs/ARCHITECTURE.md, "## Layers", row by row. */
const LAYERS: Layer[] = [
  layer({ folders: ['machines/'], allow: allow('xstate', 'machines/') }),
  layer({ folders: ['persistence/'], allow: allow('drizzle-orm', 'better-sqlite3', 'ioredis', 'node:*', 'persistence/') }),
  layer({
    folders: ['gateway/'],
    outside: ['gateway/app/'],
    allow: [
      ...allow('machines/', 'persistence/'),
      { item: 'gateway/', not: 'gateway/app/' },
      ...allow('xstate', 'ws', 'node-pty', '@xterm/headless', '@xterm/addon-serialize', '@statelyai/inspect', 'node:*'),
    ],
    reexports: [{ file: 'gateway/index.ts', from: 'gateway/app/' }],
  }),
  layer({ folders: ['gateway/app/'], inherits: 'gateway/', allow: allow('gateway/', 'gateway/app/'), dependencies: true }),
  layer({ folders: ['spec/', 'bench/', 'examples/'], everything: true }),
];

// ---- reading the doc ----

const backticked = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1]);

/** Splits on commas outside parentheses. */
function topLevelItems(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      items.push(current.trim());
      current = '';
    } else current += char;
  }
  if (current.trim() !== '') items.push(current.trim());
  return items;
}

/** One row's cells: the folder cell (first) and the "may import" cell (last). */
function parseRow(folderCell: string, allowCell: string): Layer {
  const paren = /\(([^)]*)\)/.exec(folderCell);
  const folders = backticked(paren ? folderCell.slice(0, paren.index) : folderCell);
  let outside: string[] = [];
  if (paren) {
    if (!/^everything outside /.test(paren[1])) throw new Error(`cannot read the folder cell "${folderCell}"`);
    outside = backticked(paren[1]);
  }
  const [list, ...notes] = allowCell.split(' — ');
  const row = layer({ folders, outside });
  for (const item of topLevelItems(list)) {
    let match: RegExpExecArray | null;
    if ((match = /^`([^`]+)`$/.exec(item))) row.allow.push({ item: match[1] });
    else if ((match = /^`([^`]+)` \(not `([^`]+)`\)$/.exec(item))) row.allow.push({ item: match[1], not: match[2] });
    else if ((match = /^everything `([^`]+)` may import$/.exec(item))) row.inherits = match[1];
    else if (/^(plus )?any dependency listed in package\.json$/.test(item)) row.dependencies = true;
    else if (item === 'everything') row.everything = true;
    else throw new Error(`cannot read "${item}" in the row of ${folders.join(', ')}`);
  }
  for (const note of notes) {
    const found = [...note.matchAll(/`([^`]+)`[^`]*? may re-export from `([^`]+)`/g)];
    if (found.length === 0) throw new Error(`cannot read the note "${note}" in the row of ${folders.join(', ')}`);
    for (const [, file, from] of found) row.reexports.push({ file, from });
  }
  return row;
}

/** The rows of the Markdown table under "## Layers" whose first cell names a folder in backticks. */
function parseLayersDoc(markdown: string): Layer[] {
  const start = markdown.search(/^## Layers\s*$/m);
  if (start === -1) throw new Error('no "## Layers" section');
  const rest = markdown.slice(start).split('\n').slice(1);
  const end = rest.findIndex((line) => /^## /.test(line));
  const rows: Layer[] = [];
  for (const line of end === -1 ? rest : rest.slice(0, end)) {
    if (!line.trim().startsWith('|')) continue;
    const cells = line.trim().replace(/^\||\|$/g, '').split('|').map((cell) => cell.trim());
    if (!/^`[^`]+\/`/.test(cells[0])) continue;
    rows.push(parseRow(cells[0], cells[cells.length - 1]));
  }
  return rows;
}

// ---- reading the code ----

interface ImportSite {
  specifier: string | null;
  kind: 'import' | 'export' | 'require' | 'dynamic';
  line: number;
}

/** Every module a file refers to, from its syntax tree. `specifier` null: a computed `import()`. */
function importsOf(fileName: string, source: string): ImportSite[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const sites: ImportSite[] = [];
  const add = (node: ts.Node, specifier: ts.Expression | undefined, kind: ImportSite['kind']) => {
    const line = file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1;
    const text = specifier && (ts.isStringLiteral(specifier) || ts.isNoSubstitutionTemplateLiteral(specifier)) ? specifier.text : null;
    sites.push({ specifier: text, kind, line });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) add(node, node.moduleSpecifier, 'import');
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier) add(node, node.moduleSpecifier, 'export');
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, 'require');
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], 'dynamic');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal as ts.Expression, 'import');
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return sites;
}

const DEPENDENCIES = Object.keys(
  (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {},
);

/** The layer a repository path belongs to: the one with the longest matching folder. */
function layerOf(repoPath: string, layers: Layer[] = LAYERS): Layer | null {
  let best: { layer: Layer; length: number } | null = null;
  for (const candidate of layers) {
    for (const folder of candidate.folders) {
      if (repoPath.startsWith(folder) && (!best || folder.length > best.length)) best = { layer: candidate, length: folder.length };
    }
  }
  return best?.layer ?? null;
}

const packageName = (specifier: string): string => {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
};

/** Everything a layer may import: its own list and what it inherits. */
function allowancesOf(target: Layer, layers: Layer[]): { allow: Allow[]; dependencies: boolean } {
  if (target.inherits === null) return { allow: target.allow, dependencies: target.dependencies };
  const parent = layers.find((candidate) => candidate.folders.includes(target.inherits!));
  if (!parent) throw new Error(`${target.folders.join(', ')} inherits from ${target.inherits}, which is no layer`);
  const inherited = allowancesOf(parent, layers);
  return { allow: [...inherited.allow, ...target.allow], dependencies: inherited.dependencies || target.dependencies };
}

/** Why `site` in `repoPath` breaks the table, or null when it is allowed. */
function violationOf(repoPath: string, site: ImportSite, layers: Layer[] = LAYERS, dependencies = DEPENDENCIES): string | null {
  const own = layerOf(repoPath, layers);
  if (!own) return 'the file is in no layer of the table';
  if (own.everything) return null;
  const { specifier } = site;
  if (specifier === null) return 'a computed import() cannot be checked against the table';
  const { allow: allowed, dependencies: anyDependency } = allowancesOf(own, layers);
  if (specifier.startsWith('.')) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(repoPath), specifier));
    if (target.startsWith('../')) return `${specifier} leaves the repository`;
    if (allowed.some(({ item, not }) => item.endsWith('/') && target.startsWith(item) && !(not && target.startsWith(not)))) return null;
    if (site.kind === 'export' && own.reexports.some((rule) => rule.file === repoPath && target.startsWith(rule.from))) return null;
    return `${specifier} (${target}) is not in a folder this layer may import`;
  }
  if (specifier.startsWith('node:')) return allowed.some(({ item }) => item === 'node:*') ? null : `${specifier}: this layer may not use Node built-ins`;
  if (builtinModules.includes(specifier.split('/')[0])) return `${specifier}: Node built-ins are imported as node:${specifier}`;
  const name = packageName(specifier);
  if (allowed.some(({ item }) => item === name)) return null;
  if (anyDependency && dependencies.includes(name)) return null;
  return `${specifier}: package ${name} is not in this layer's list`;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|mts|cts|tsx)$/.test(name)) out.push(full);
  }
  return out;
}

const repoPathOf = (full: string) => path.relative(ROOT, full).split(path.sep).join('/');
const ALL_FILES = sourceFiles(ROOT).map(repoPathOf).sort();

/** Every break of the table in one file. */
function violationsIn(repoPath: string, source: string, layers: Layer[] = LAYERS): string[] {
  if (layerOf(repoPath, layers)?.everything) return [];
  return importsOf(repoPath, source).flatMap((site) => {
    const why = violationOf(repoPath, site, layers);
    return why === null ? [] : [`${repoPath}:${site.line}: ${why}`];
  });
}

/** Globals a machine must not reach for: time, timers, the process, and the global object. */
const IMPURE_GLOBALS = new Set([
  'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'queueMicrotask',
  'Date', 'performance', 'process', 'globalThis', 'require',
]);

/** Uses of impure globals (not property names like `clock.setTimeout`, not comments or strings). */
function impureUsesIn(repoPath: string, source: string): string[] {
  const file = ts.createSourceFile(repoPath, source, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isIdentifier(node) && IMPURE_GLOBALS.has(node.text)) {
      const parent = node.parent;
      const isMemberName =
        (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
        ((ts.isPropertyAssignment(parent) || ts.isMethodDeclaration(parent) || ts.isPropertySignature(parent)) && parent.name === node);
      if (!isMemberName) found.push(`${repoPath}:${file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1}: ${node.text}`);
    }
    if (ts.isIdentifier(node) && node.text === 'Math' && ts.isPropertyAccessExpression(node.parent) && node.parent.name.text === 'random') {
      found.push(`${repoPath}:${file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1}: Math.random`);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

const read = (repoPath: string) => readFileSync(path.join(ROOT, repoPath), 'utf8');

// ---- the checks ----

test('the "## Layers" table of docs/ARCHITECTURE.md is the table this spec enforces', () => {
  const fromDoc = parseLayersDoc(read('docs/ARCHITECTURE.md'));
  assert.equal(fromDoc, LAYERS);
});

test('every TypeScript file is in a layer of the table', () => {
  assert.ok(ALL_FILES.length > 100, `found only ${ALL_FILES.length} files`);
  assert.equal(ALL_FILES.filter((file) => layerOf(file) === null), []);
  for (const row of LAYERS) for (const folder of row.outside) assert.ok(LAYERS.some((other) => other.folders.includes(folder)), `${folder} is a layer`);
});

test('every import follows the table', () => {
  const violations = ALL_FILES.flatMap((file) => violationsIn(file, read(file)));
  assert.equal(violations, [], `imports that break docs/ARCHITECTURE.md "## Layers":\n${violations.join('\n')}\n`);
});

test('machines keep no time, timer or process of their own (waits are `after` delays on the XState clock)', () => {
  const machines = ALL_FILES.filter((file) => file.startsWith('machines/'));
  assert.ok(machines.length >= 5);
  assert.equal(machines.flatMap((file) => impureUsesIn(file, read(file))), []);
});

test('the checker refuses what the table forbids', () => {
  const breaks = (file: string, source: string) => violationsIn(file, source).length > 0;
  // A machine that imports ws, Node, or the gateway.
  assert.ok(breaks('machines/x.machine.ts', "import { WebSocket } from 'ws';"));
  assert.ok(breaks('machines/x.machine.ts', "import { readFileSync } from 'node:fs';"));
  assert.ok(breaks('machines/x.machine.ts', "import type { Logger } from '../gateway/logger.js';"));
  assert.ok(breaks('machines/x.machine.ts', "export { WebSocket } from 'ws';"));
  assert.ok(breaks('machines/x.machine.ts', "const ws = await import('ws');"));
  assert.ok(breaks('machines/x.machine.ts', "import ws = require('ws');"));
  assert.ok(breaks('machines/x.machine.ts', 'const name = "ws"; await import(name);'));
  assert.ok(breaks('machines/x.machine.ts', "type S = import('ws').WebSocket;"));
  // Persistence that reaches into the gateway.
  assert.ok(breaks('persistence/eventLog.ts', "import type { Logger } from '../gateway/logger.js';"));
  // The gateway reaching into its app, or into a package not in its list, or a bare builtin.
  assert.ok(breaks('gateway/shell/shellRoute.ts', "import { x } from '../app/demoAgent.js';"));
  assert.ok(breaks('gateway/index.ts', "import { createDemoRuntime } from './app/demoAgent.js';"));
  assert.ok(breaks('gateway/route.ts', "import { createDemoRuntime } from './app/demoAgent.js';"));
  assert.ok(breaks('gateway/route.ts', "import { Client } from '@agentclientprotocol/sdk';"));
  assert.ok(breaks('gateway/route.ts', "import fs from 'fs';"));
  assert.ok(breaks('gateway/route.ts', "import pkg from '../package.json';"));
  // The app may use any runtime dependency, but not a dev dependency.
  assert.ok(breaks('gateway/app/x.ts', "import { test } from 'uvu';"));
  // A file in no layer.
  assert.ok(breaks('scripts/x.ts', "import { test } from 'uvu';"));
});

test('the checker allows what the table allows', () => {
  const passes = (file: string, source: string) => assert.equal(violationsIn(file, source), [], `${file}: ${source}`);
  passes('machines/x.machine.ts', "import { setup } from 'xstate';\nimport { CLOSE } from './protocolCodes.js';");
  passes('machines/x.machine.ts', "const bootstrap = `import('ws')`; // import('node:fs')");
  passes('persistence/x.ts', "import { eq } from 'drizzle-orm';\nimport { drizzle } from 'drizzle-orm/better-sqlite3';\nimport path from 'node:path';");
  passes('gateway/index.ts', "export { createDemoRuntime } from './app/demoAgent.js';");
  passes('gateway/shell/x.ts', "import { x } from '../../machines/shellSession.machine.js';\nimport { y } from '../route.js';\nimport pty from 'node-pty';");
  passes('gateway/app/x.ts', "import { Client } from '@agentclientprotocol/sdk';\nimport { x } from '../route.js';\nimport { y } from './cli/options.js';");
  passes('spec/x.spec.ts', "import { test } from 'uvu';\nimport { x } from '../gateway/app/standalone.js';");
});

test('the impurity check finds timers, clocks and the process, and only those', () => {
  assert.equal(impureUsesIn('machines/x.ts', 'const t = setTimeout(() => {}, 1);').length, 1);
  assert.equal(impureUsesIn('machines/x.ts', 'const now = Date.now();').length, 1);
  assert.equal(impureUsesIn('machines/x.ts', 'const d = new Date();').length, 1);
  assert.equal(impureUsesIn('machines/x.ts', 'const e = process.env.HOME;').length, 1);
  assert.equal(impureUsesIn('machines/x.ts', 'const r = Math.random();').length, 1);
  assert.equal(impureUsesIn('machines/x.ts', '// setTimeout and Date.now in a comment\nconst s = "process";\nclock.setTimeout(f, 1);'), []);
});

test('the doc parser reads the table the way it is written, and refuses what it cannot read', () => {
  const doc = [
    '## Layers',
    '',
    '| folder | may import |',
    '|---|---|',
    '| `machines/` | `xstate`, `machines/` |',
    '| `gateway/` (everything outside `gateway/app/`) | `machines/`, `gateway/` (not `gateway/app/`), `node:*` — with ONE exception: `gateway/index.ts` (the package entry) may re-export from `gateway/app/` |',
    '| `gateway/app/` | everything `gateway/` may import, `gateway/app/`, plus any dependency listed in package.json |',
    '| `spec/`, `bench/` | everything |',
    '',
    '## Next',
    '| `ignored/` | `x` |',
  ].join('\n');
  assert.equal(parseLayersDoc(doc), [
    layer({ folders: ['machines/'], allow: allow('xstate', 'machines/') }),
    layer({
      folders: ['gateway/'],
      outside: ['gateway/app/'],
      allow: [{ item: 'machines/' }, { item: 'gateway/', not: 'gateway/app/' }, { item: 'node:*' }],
      reexports: [{ file: 'gateway/index.ts', from: 'gateway/app/' }],
    }),
    layer({ folders: ['gateway/app/'], inherits: 'gateway/', allow: allow('gateway/app/'), dependencies: true }),
    layer({ folders: ['spec/', 'bench/'], everything: true }),
  ]);
  assert.throws(() => parseLayersDoc('## Layers\n| `machines/` | `xstate`, other `machines/` files |'), /cannot read "other `machines\/` files"/);
  assert.throws(() => parseLayersDoc('# no layers here'), /no "## Layers" section/);
});

test.run();
