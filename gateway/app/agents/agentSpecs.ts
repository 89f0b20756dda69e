/**
 * Which ACP agents the standalone server offers, from `--agent NAME=COMMAND`, `GATEWAY_AGENTS` and
 * an `--agents-file`. Pure: parses strings and already-read JSON, touches no file (the file is read
 * by `agentsFile.ts`), so every rule is testable. A bad entry throws an Error naming its source.
 */

/** One agent the gateway can start: `provider` in a session row names it. */
export interface AgentSpec {
  name: string;
  /** The program to run. */
  command: string;
  args: string[];
  /** Variables set on top of the gateway's environment for this agent. */
  env: Record<string, string>;
}

/** A provider name: also a session row's `provider`, a URL-ish word. */
const AGENT_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** Names that belong to the gateway itself. */
const RESERVED_NAMES = new Set(['demo']);

function checkName(name: string, source: string): string {
  if (!AGENT_NAME.test(name)) throw new Error(`${source}: agent name "${name.slice(0, 80)}" may only contain letters, digits, "_" and "-" (1-64)`);
  if (RESERVED_NAMES.has(name)) throw new Error(`${source}: agent name "${name}" is reserved for the built-in agent`);
  return name;
}

/**
 * Splits a command line the way a POSIX shell splits words, without running a shell: blanks
 * separate words, '…' is literal, "…" keeps blanks and honours \" and \\, a backslash outside
 * quotes escapes the next character. No variables, globs or pipes: the words go to spawn as-is.
 */
export function splitCommandLine(text: string, source: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw new Error(`${source}: unterminated ' in "${text}"`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (char === '"') {
      inWord = true;
      let closed = false;
      for (i++; i < text.length; i++) {
        if (text[i] === '"') {
          closed = true;
          break;
        }
        if (text[i] === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) i++;
        word += text[i];
      }
      if (!closed) throw new Error(`${source}: unterminated " in "${text}"`);
    } else if (char === '\\') {
      if (i + 1 < text.length) word += text[++i];
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** `NAME=COMMAND` (the form of `--agent` and of each `GATEWAY_AGENTS` entry). */
export function parseAgentEntry(entry: string, source: string): AgentSpec {
  const at = entry.indexOf('=');
  if (at <= 0) throw new Error(`${source} expects NAME=COMMAND, got "${entry.slice(0, 200)}"`);
  const name = checkName(entry.slice(0, at).trim(), source);
  const words = splitCommandLine(entry.slice(at + 1), `${source} (agent "${name}")`);
  if (words.length === 0) throw new Error(`${source}: agent "${name}" has an empty command`);
  return { name, command: words[0], args: words.slice(1), env: {} };
}

/** `GATEWAY_AGENTS`: entries separated by ";" or newlines (commands contain blanks and commas). */
export function parseAgentsEnv(value: string, source = 'GATEWAY_AGENTS'): AgentSpec[] {
  return value
    .split(/[;\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => parseAgentEntry(entry, source));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw new Error(`${what} must be an array of strings`);
  return value as string[];
}

/**
 * The agents file, already parsed from JSON: `{ "agents": { NAME: ENTRY } }` or `{ NAME: ENTRY }`,
 * where ENTRY is a command line string, or `{ "command": string | string[], "args"?: string[],
 * "env"?: { VAR: string } }`.
 */
export function parseAgentsFile(json: unknown, source: string): AgentSpec[] {
  const top = isRecord(json) && isRecord(json.agents) ? json.agents : json;
  if (!isRecord(top)) throw new Error(`${source} must hold a JSON object of agents`);
  const specs: AgentSpec[] = [];
  for (const [rawName, entry] of Object.entries(top)) {
    const name = checkName(rawName, source);
    const where = `${source}: agent "${name}"`;
    if (typeof entry === 'string') {
      specs.push(parseAgentEntry(`${name}=${entry}`, source));
      continue;
    }
    if (!isRecord(entry)) throw new Error(`${where} must be a command string or an object with "command"`);
    const words = typeof entry.command === 'string' ? splitCommandLine(entry.command, where) : stringList(entry.command, `${where} "command"`);
    const args = entry.args === undefined ? [] : stringList(entry.args, `${where} "args"`);
    if (words.length === 0 || words[0] === '') throw new Error(`${where} has an empty command`);
    const env: Record<string, string> = {};
    if (entry.env !== undefined) {
      if (!isRecord(entry.env)) throw new Error(`${where} "env" must be an object of strings`);
      for (const [key, value] of Object.entries(entry.env)) {
        if (typeof value !== 'string') throw new Error(`${where} "env.${key}" must be a string`);
        env[key] = value;
      }
    }
    specs.push({ name, command: words[0], args: [...words.slice(1), ...args], env });
  }
  return specs;
}

/**
 * One list from every source. A later source wins for a name it repeats (file < env < flags);
 * the same name twice within one source is an error.
 */
export function mergeAgentSpecs(...sources: Array<{ source: string; specs: AgentSpec[] }>): AgentSpec[] {
  const merged = new Map<string, AgentSpec>();
  for (const { source, specs } of sources) {
    const seen = new Set<string>();
    for (const spec of specs) {
      if (seen.has(spec.name)) throw new Error(`${source}: agent "${spec.name}" is given twice`);
      seen.add(spec.name);
      merged.set(spec.name, spec);
    }
  }
  return [...merged.values()];
}

/** The command as a person would type it (for logs and GET /api/config). */
export function describeCommand(spec: Pick<AgentSpec, 'command' | 'args'>): string {
  return [spec.command, ...spec.args].map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(' ');
}
