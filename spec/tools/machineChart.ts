/**
 * Renders a machine's own definition as a Markdown page with a Mermaid state diagram and a
 * table of every transition, so the documentation is generated from the code and cannot drift
 * from it (spec/model/charts.spec.ts fails when docs/machines/ is stale).
 *
 * The diagram shows transitions that change state (targetless ones would bury it in self-loops);
 * the table lists every declared transition, each guarded branch on its own row.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

export interface ChartSource {
  /** File name under docs/machines/ (without .md). */
  name: string;
  machine: AnyStateMachine;
  /** Where it is defined, for the page's header. */
  file: string;
  /** One paragraph on what the machine is. */
  summary: string;
}

interface Row {
  source: string;
  event: string;
  guard: string;
  target: string;
  actions: string;
}

const childNodes = (node: AnyStateNode): AnyStateNode[] => Object.values(node.states ?? {}) as AnyStateNode[];

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...childNodes(node).flatMap(allNodes)];
}

/** A state's name in the diagram: its key, or its whole path where two states share a key. */
function nodeId(node: AnyStateNode): string {
  if (node.path.length === 0) return node.machine.id;
  const sameKey = allNodes(node.machine.root).filter((other) => other.key === node.key);
  return sameKey.length === 1 ? node.key : node.path.join('_');
}

/** What to call the event a transition listens for. */
function eventLabel(transition: AnyTransitionDefinition, source: AnyStateNode): string {
  const type = transition.eventType;
  if (source.always?.includes(transition)) return 'always';
  const after = /^xstate\.after\.([^.]+)\./.exec(type);
  if (after) return `after ${after[1]}`;
  for (const [prefix, word] of [['xstate.done.actor.', 'done'], ['xstate.error.actor.', 'error']] as const) {
    if (!type.startsWith(prefix)) continue;
    const actorId = type.slice(prefix.length);
    const invoked = (source.invoke ?? []).find((invoke: { id: string }) => invoke.id === actorId) as { src?: unknown } | undefined;
    const src = invoked && typeof invoked.src === 'string' ? invoked.src : actorId;
    return `${word}: ${src}`;
  }
  return type;
}

function guardLabel(transition: AnyTransitionDefinition): string {
  const guard = transition.guard as unknown;
  if (!guard) return '';
  if (typeof guard === 'function') return 'inline guard';
  if (typeof guard === 'string') return guard;
  const typed = guard as { type?: unknown; params?: unknown };
  if (typeof typed.type === 'string') return typed.type;
  return 'guard';
}

function actionLabel(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const named = action as { type?: unknown; name?: string };
    return typeof named.type === 'string' ? named.type.replace(/^xstate\./, '') : named.name || 'inline';
  }
  if (action && typeof action === 'object' && typeof (action as { type?: unknown }).type === 'string') return (action as { type: string }).type;
  return 'inline';
}

function rowsOf(machine: AnyStateMachine): Row[] {
  const rows: Row[] = [];
  for (const node of allNodes(machine.root)) {
    const transitions: AnyTransitionDefinition[] = [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
    for (const transition of transitions) {
      const targets = (transition.target ?? []) as AnyStateNode[];
      rows.push({
        source: node.path.length === 0 ? `(${machine.id})` : node.path.join('.'),
        event: eventLabel(transition, node),
        guard: guardLabel(transition),
        target: targets.length === 0 ? '—' : targets.map((target) => (target.path.length === 0 ? machine.id : target.path.join('.'))).join(', ') + (transition.reenter ? ' (re-entered)' : ''),
        actions: (transition.actions ?? []).map(actionLabel).join(', '),
      });
    }
  }
  return rows;
}

function diagramLines(node: AnyStateNode, indent: string): string[] {
  const lines: string[] = [];
  const children = childNodes(node);
  if (children.length === 0) return lines;
  const initial = node.initial?.target?.[0] as AnyStateNode | undefined;
  if (initial) lines.push(`${indent}[*] --> ${nodeId(initial)}`);
  for (const child of children) {
    if (childNodes(child).length > 0) {
      lines.push(`${indent}state ${nodeId(child)} {`);
      lines.push(...diagramLines(child, `${indent}  `));
      lines.push(`${indent}}`);
    } else {
      // Named inside its parent, so edges drawn later find it there.
      lines.push(`${indent}${nodeId(child)}`);
    }
    if (child.type === 'final') lines.push(`${indent}${nodeId(child)} --> [*]`);
  }
  return lines;
}

function edgeLines(machine: AnyStateMachine): string[] {
  const lines: string[] = [];
  for (const node of allNodes(machine.root)) {
    if (node.path.length === 0) continue;
    const transitions: AnyTransitionDefinition[] = [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
    for (const transition of transitions) {
      for (const target of (transition.target ?? []) as AnyStateNode[]) {
        const guard = guardLabel(transition);
        // Mermaid ends a label at a colon: `done: src` is drawn `done src`.
        const label = `${eventLabel(transition, node)}${guard ? ` [${guard}]` : ''}`.replace(/:/g, '');
        lines.push(`  ${nodeId(node)} --> ${nodeId(target)} : ${label}`);
      }
    }
  }
  return lines;
}

const cell = (text: string) => (text === '' ? ' ' : text.replace(/\|/g, '\\|'));

export function renderChart(source: ChartSource): string {
  const { machine } = source;
  const nodes = allNodes(machine.root);
  const rows = rowsOf(machine);
  const diagram = childNodes(machine.root).length === 0 ? [`  [*] --> ${machine.id}`] : [...diagramLines(machine.root, '  '), ...edgeLines(machine)];
  return [
    `# ${machine.id}`,
    '',
    `<!-- Generated by \`npm run charts\` (spec/tools/charts.ts) from ${source.file}. Do not edit by hand. -->`,
    '',
    source.summary,
    '',
    `Defined in [\`${source.file}\`](../../${source.file}). ${nodes.length} state node(s), ${rows.length} transition(s) (each guarded branch counted).`,
    '',
    '```mermaid',
    'stateDiagram-v2',
    ...diagram,
    '```',
    '',
    'Every transition, including those that stay in their state (actions only):',
    '',
    '| from | event | guard | to | actions |',
    '|---|---|---|---|---|',
    ...rows.map((row) => `| ${cell(row.source)} | \`${row.event}\` | ${cell(row.guard)} | ${cell(row.target)} | ${cell(row.actions)} |`),
    '',
  ].join('\n');
}

export function renderIndex(sources: ChartSource[]): string {
  return [
    '# State machines',
    '',
    '<!-- Generated by `npm run charts` (spec/tools/charts.ts). Do not edit by hand. -->',
    '',
    'Every live thing in the gateway is an XState v5 actor. These pages are generated from the machines',
    'themselves, so they always match the code; `npm test` fails when they are stale (run `npm run charts`).',
    '',
    ...sources.map((source) => `- [${source.machine.id}](${source.name}.md): ${source.summary}`),
    '',
    'Their parent, the root of the actor system (`machines/gatewayRoot.ts`), is not a machine: it has one',
    'state and keeps its children in a Map, because a machine copies its children on every spawn and stop.',
    '',
  ].join('\n');
}
