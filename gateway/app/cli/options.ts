/**
 * Command-line and environment options of the standalone server. Pure: reads only the argv and env
 * it is given, touches no file (the token file is `token.ts`), so every rule is testable.
 * A flag wins over its environment variable; a bad value throws an Error whose message names the
 * option (the CLI prints it and exits 2).
 */
import { delimiter } from 'node:path';

import { DEFAULT_RUN_LEASE_MS } from '../../../persistence/cluster/types.js';
import type { LogLevel } from '../../logger.js';
import { mergeAgentSpecs, parseAgentEntry, parseAgentsEnv, type AgentSpec } from '../agents/agentSpecs.js';

/** Bounds of `--run-lease-ms`: renewals every third of it must fit a Redis round trip; a lost node's run must end in minutes, not hours. */
export const MIN_RUN_LEASE_MS = 300;
export const MAX_RUN_LEASE_MS = 300_000;

export interface CliOptions {
  port: number;
  host: string;
  dataDir: string;
  /** GATEWAY_TOKEN when set. Otherwise undefined: the server loads or creates `<dataDir>/token`. */
  token: string | undefined;
  /** Plugin name → local port of its WebSocket server. */
  plugins: Record<string, number>;
  /** Pause between two stream_delta words of the demo agent (0: no pause). */
  demoPaceMs: number;
  permissionTimeoutMs: number;
  logLevel: LogLevel;
  /** `true`: inspect with the default inspector; a string: the ws:// URL of an inspector. */
  inspect: string | true | undefined;
  allowedOrigins: string[];
  /** The OS user (name or uid) terminals run as; undefined: the gateway's own user. */
  shellUser: string | undefined;
  /**
   * Directories sessions and shells may use (`--workspace-root`, repeatable; GATEWAY_WORKSPACE_ROOTS).
   * Empty: the directory the gateway starts in (the server resolves it; this module reads no cwd).
   */
  workspaceRoots: string[];
  /** ACP agents from `--agent NAME=COMMAND` and GATEWAY_AGENTS (flags win); absent when none. */
  agents?: AgentSpec[];
  /** `--agents-file` / GATEWAY_AGENTS_FILE: a JSON file of agents, read when the server starts. */
  agentsFile?: string;
  /** `--notify-url` / GATEWAY_NOTIFY_URL: where attention events are POSTed; absent: nowhere. */
  notifyUrl?: string;
  /**
   * `--redis` / GATEWAY_REDIS_URL: cluster mode, the shared backend's `redis://` or `rediss://` URL
   * (may hold a password: never printed as given). Absent: one node on SQLite.
   */
  redisUrl?: string;
  /**
   * `--node-id` / GATEWAY_NODE_ID (only with `redisUrl`). Absent: the server names the node with
   * `defaultNodeId` (it knows the host name and pid; this module reads neither).
   */
  nodeId?: string;
  /** `--run-lease-ms` / GATEWAY_RUN_LEASE_MS (only with `redisUrl`); absent: DEFAULT_RUN_LEASE_MS. */
  runLeaseMs?: number;
}

export const CLI_DEFAULTS = {
  port: 3001,
  host: '127.0.0.1',
  dataDir: './data',
  demoPaceMs: 50,
  permissionTimeoutMs: 60_000,
  logLevel: 'info' as LogLevel,
} as const;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
const PLUGIN_NAME = /^[a-zA-Z0-9_-]+$/;
/** setTimeout's largest delay; beyond it Node fires at once. */
const MAX_TIMER_MS = 2_147_483_647;
/**
 * A node id is part of the backend's keys and channel names and is shown in `/healthz`, error
 * frames and logs: a short, printable name with no separators a key or a log line could confuse.
 */
export const MAX_NODE_ID_LENGTH = 128;
const NODE_ID = /^[A-Za-z0-9._:@-]+$/;
const NODE_ID_PUNCTUATION_TEXT = '". _ : @ -"';

type FlagName =
  | 'port' | 'host' | 'data-dir' | 'plugin' | 'demo-pace-ms' | 'permission-timeout-ms'
  | 'log-level' | 'inspect' | 'allowed-origin' | 'shell-user' | 'workspace-root' | 'agent' | 'agents-file' | 'notify-url'
  | 'redis' | 'node-id' | 'run-lease-ms' | 'help';

interface FlagSpec {
  /** `none`: a switch; `optional`: only `--flag=value` carries a value; `required`: `--flag v` or `--flag=v`. */
  value: 'none' | 'optional' | 'required';
  repeatable?: boolean;
  env?: string;
  placeholder?: string;
  defaultText: string;
  description: string;
}

const FLAGS: Record<FlagName, FlagSpec> = {
  port: { value: 'required', env: 'PORT', placeholder: 'N', defaultText: String(CLI_DEFAULTS.port), description: 'HTTP/WebSocket port (0: any free port).' },
  host: { value: 'required', env: 'GATEWAY_HOST', placeholder: 'ADDR', defaultText: CLI_DEFAULTS.host, description: 'Address to listen on.' },
  'data-dir': { value: 'required', env: 'GATEWAY_DATA_DIR', placeholder: 'DIR', defaultText: CLI_DEFAULTS.dataDir, description: 'Where the SQLite database and the token file live.' },
  plugin: {
    value: 'required',
    repeatable: true,
    env: 'GATEWAY_PLUGINS',
    placeholder: 'NAME=PORT',
    defaultText: 'none',
    description: 'A plugin tunnelled on /plugin-ws/NAME to 127.0.0.1:PORT. Repeatable; the env var takes name=port,name2=port2.',
  },
  'demo-pace-ms': { value: 'required', env: 'GATEWAY_DEMO_PACE_MS', placeholder: 'MS', defaultText: String(CLI_DEFAULTS.demoPaceMs), description: 'Pause between two words of the demo agent (0: no pause).' },
  'permission-timeout-ms': {
    value: 'required',
    env: 'GATEWAY_PERMISSION_TIMEOUT_MS',
    placeholder: 'MS',
    defaultText: String(CLI_DEFAULTS.permissionTimeoutMs),
    description: 'How long the demo agent waits for a tool approval.',
  },
  'log-level': { value: 'required', env: 'GATEWAY_LOG_LEVEL', placeholder: 'LEVEL', defaultText: CLI_DEFAULTS.logLevel, description: `One of ${LOG_LEVELS.join('|')}.` },
  inspect: { value: 'optional', placeholder: 'ws://127.0.0.1:PORT', defaultText: 'off', description: 'Send every actor event to a Stately inspector (the URL form: only with "=").' },
  'allowed-origin': {
    value: 'required',
    repeatable: true,
    env: 'GATEWAY_ALLOWED_ORIGINS',
    placeholder: 'ORIGIN',
    defaultText: 'same host only',
    description: 'Browser origin allowed besides the request\'s own host ("*": any). Repeatable; the env var is comma-separated.',
  },
  'shell-user': {
    value: 'required',
    env: 'GATEWAY_SHELL_USER',
    placeholder: 'USER',
    defaultText: "the gateway's own user",
    description:
      'Run /shell terminals as this OS user (name or uid; needs root and setpriv). Without it a terminal can read everything the gateway can: its environment via /proc, the data dir, the token.',
  },
  'workspace-root': {
    value: 'required',
    repeatable: true,
    env: 'GATEWAY_WORKSPACE_ROOTS',
    placeholder: 'DIR',
    defaultText: 'the directory the gateway starts in',
    description: `A directory sessions (projectPath) and /shell terminals may use, with everything below it (symlinks resolved). Repeatable; the env var is a "${delimiter}"-separated list; "/" allows any directory.`,
  },
  agent: {
    value: 'required',
    repeatable: true,
    env: 'GATEWAY_AGENTS',
    placeholder: 'NAME=COMMAND',
    defaultText: 'none (only the demo agent)',
    description:
      'A real coding agent speaking ACP on stdio, offered as provider NAME (e.g. claude="npx -y @zed-industries/claude-code-acp"). Repeatable; the env var separates entries with ";".',
  },
  'agents-file': {
    value: 'required',
    env: 'GATEWAY_AGENTS_FILE',
    placeholder: 'FILE',
    defaultText: 'none',
    description: 'A JSON file of agents: { "NAME": "COMMAND" } or { "NAME": { "command", "args", "env" } }. --agent wins for a name in both.',
  },
  'notify-url': {
    value: 'required',
    env: 'GATEWAY_NOTIFY_URL',
    placeholder: 'URL',
    defaultText: 'off',
    description:
      'POST a JSON event here when a run asks for approval or ends while no browser watches its session (http/https; user:password@ becomes Basic auth). Never sends the token.',
  },
  redis: {
    value: 'required',
    env: 'GATEWAY_REDIS_URL',
    placeholder: 'URL',
    defaultText: 'off: one node on SQLite',
    description:
      'Cluster mode: sessions, chat logs and run leases live in this Redis (redis://[user:password@]host:port[/db], or rediss:// for TLS), shared by every node given the same URL and GATEWAY_TOKEN. No SQLite file is opened.',
  },
  'node-id': {
    value: 'required',
    env: 'GATEWAY_NODE_ID',
    placeholder: 'ID',
    defaultText: 'HOSTNAME:PORT, or HOSTNAME:pidPID with --port 0',
    description: `This node's name in the cluster (only with --redis; unique per node; letters, digits and ${NODE_ID_PUNCTUATION_TEXT}, at most ${MAX_NODE_ID_LENGTH} characters).`,
  },
  'run-lease-ms': {
    value: 'required',
    env: 'GATEWAY_RUN_LEASE_MS',
    placeholder: 'MS',
    defaultText: String(DEFAULT_RUN_LEASE_MS),
    description: `How long a node's run lease lasts without renewal (only with --redis; ${MIN_RUN_LEASE_MS}–${MAX_RUN_LEASE_MS}): a killed node's run is ended by another node within it.`,
  },
  help: { value: 'none', defaultText: '', description: 'Print this help and exit.' },
};

function isFlagName(name: string): name is FlagName {
  return Object.prototype.hasOwnProperty.call(FLAGS, name);
}

/**
 * Every REST route of the standalone server (gateway/app/cli/rest.ts), as `--help` lists them.
 * A spec checks this list against the routes the handler answers.
 */
export const REST_ROUTES_HELP: ReadonlyArray<readonly [string, string]> = [
  ['GET    /healthz', 'health (no token)'],
  ['POST   /api/providers/sessions', 'create a session { provider, projectPath }'],
  ['GET    /api/providers/sessions?limit=&before=', 'list sessions, newest first'],
  ['GET    /api/providers/sessions/running', 'running runs'],
  ['GET    /api/providers/sessions/:id', 'one session'],
  ['DELETE /api/providers/sessions/:id', 'delete a session and its log (409 while running)'],
  ['GET    /api/providers/sessions/:id/messages?afterSeq=&limit=', "a session's history"],
  ['GET    /api/actors', 'live actors and their states'],
  ['GET    /api/config', 'defaults for a client (providers, workspace roots)'],
];

/**
 * How the user ran us, for hints: under `npm start` (npm sets npm_lifecycle_event) the options
 * go after `--`, and `agent-gateway` may not be on the PATH at all.
 */
export function commandName(env: NodeJS.ProcessEnv): string {
  const script = env.npm_lifecycle_event;
  if (script === undefined || script === '') return 'agent-gateway';
  return script === 'start' ? 'npm start --' : `npm run ${script} --`;
}

export function cliHelpText(command = 'agent-gateway'): string {
  const routeWidth = Math.max(...REST_ROUTES_HELP.map(([route]) => route.length));
  const lines = [
    `Usage: ${command} [options]`,
    `       ${command} record --out FILE [options]   record every session as a scenario (record --help)`,
    '',
    'Runs the agent-gateway standalone server: the playground page at /, /ws chat (with the',
    'built-in "demo" agent), /shell terminals, /plugin-ws/NAME tunnels, and these REST routes',
    '(all but /healthz take "Authorization: Bearer <token>"):',
    ...REST_ROUTES_HELP.map(([route, meaning]) => `  ${route.padEnd(routeWidth)}  ${meaning}`),
    '',
    'Options (a flag wins over its environment variable; --x=v and --x v both work):',
  ];
  for (const [name, spec] of Object.entries(FLAGS) as Array<[FlagName, FlagSpec]>) {
    const value = spec.value === 'required' ? ` ${spec.placeholder}` : spec.value === 'optional' ? `[=${spec.placeholder}]` : '';
    const flag = name === 'help' ? '-h, --help' : `--${name}${value}`;
    lines.push(`  ${flag}`);
    lines.push(`      ${spec.description}`);
    const facts = [];
    if (spec.env) facts.push(`env ${spec.env}`);
    if (spec.defaultText) facts.push(`default: ${spec.defaultText}`);
    if (facts.length > 0) lines.push(`      (${facts.join('; ')})`);
  }
  lines.push(
    '',
    'Token: clients authenticate with GATEWAY_TOKEN (env only, so it never shows in the process list).',
    'Without it a random token is created on first start and kept in <data-dir>/token (mode 0600;',
    'the data dir is made 0700, the SQLite files 0600).',
    '',
    'Cluster (--redis): run several nodes on one Redis, each with its own --node-id and the SAME',
    'GATEWAY_TOKEN (a token generated per data dir would differ per node). /shell terminals stay on',
    'the node that started them: route a client back to that node (sticky sessions).',
    '',
  );
  return lines.join('\n');
}

function parseInteger(raw: string, option: string, min: number, max: number): number {
  const text = raw.trim();
  if (!/^\d+$/.test(text)) throw new Error(`${option} must be a whole number, got "${raw}"`);
  const value = Number(text);
  if (value < min || value > max) throw new Error(`${option} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function parsePluginEntry(entry: string, source: string): [string, number] {
  const at = entry.indexOf('=');
  if (at <= 0) throw new Error(`${source} expects NAME=PORT, got "${entry}"`);
  const name = entry.slice(0, at).trim();
  const port = entry.slice(at + 1);
  if (!PLUGIN_NAME.test(name)) throw new Error(`${source}: plugin name "${name}" may only contain letters, digits, "_" and "-"`);
  return [name, parseInteger(port, `${source} port of plugin "${name}"`, 1, 65_535)];
}

function parsePluginList(entries: string[], source: string): Record<string, number> {
  const plugins: Record<string, number> = {};
  for (const entry of entries) {
    const [name, port] = parsePluginEntry(entry, source);
    if (Object.prototype.hasOwnProperty.call(plugins, name)) throw new Error(`${source}: plugin "${name}" is given twice`);
    plugins[name] = port;
  }
  return plugins;
}

function parseOrigin(raw: string, source: string): string {
  const text = raw.trim();
  if (text === '*') return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${source} must be an origin like http://localhost:5173 or "*", got "${raw}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new Error(`${source} must be an origin like http://localhost:5173 or "*", got "${raw}"`);
  }
  return url.origin;
}

function parseInspect(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`--inspect expects a ws:// or wss:// URL, got "${raw}"`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`--inspect expects a ws:// or wss:// URL, got "${raw}"`);
  return raw;
}

function parseLogLevel(raw: string, source: string): LogLevel {
  const level = raw.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`${source} must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return level as LogLevel;
}

/** An empty environment variable counts as unset (`PORT= npm start`). */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Splits argv into flag values; rejects unknown flags, missing values and positional arguments. */
function collectFlags(argv: string[]): Map<FlagName, Array<string | true>> {
  const seen = new Map<FlagName, Array<string | true>>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h') {
      seen.set('help', [true]);
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') throw new Error(`Unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (!isFlagName(name)) throw new Error(`Unknown option --${name}`);
    const spec = FLAGS[name];
    let value: string | true;
    if (eq !== -1) {
      if (spec.value === 'none') throw new Error(`--${name} takes no value`);
      value = arg.slice(eq + 1);
    } else if (spec.value === 'required') {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new Error(`--${name} needs a value`);
      value = next;
      i++;
    } else {
      value = true;
    }
    const values = seen.get(name) ?? [];
    if (values.length > 0 && !spec.repeatable && name !== 'help') throw new Error(`--${name} is given more than once`);
    values.push(value);
    seen.set(name, values);
  }
  return seen;
}

export function parseCliOptions(argv: string[], env: NodeJS.ProcessEnv): CliOptions | { help: string } {
  const flags = collectFlags(argv);
  if (flags.has('help')) return { help: cliHelpText(commandName(env)) };

  /** The flag's value, else the env var's, else undefined; `source` names where it came from for errors. */
  const pick = (name: FlagName): { raw: string; source: string } | undefined => {
    const fromFlag = flags.get(name)?.[0];
    if (typeof fromFlag === 'string') return { raw: fromFlag, source: `--${name}` };
    const envName = FLAGS[name].env;
    const fromEnv = envName ? envValue(env, envName) : undefined;
    return fromEnv === undefined ? undefined : { raw: fromEnv, source: envName as string };
  };

  const port = pick('port');
  const host = pick('host');
  const dataDir = pick('data-dir');
  const pace = pick('demo-pace-ms');
  const permissionTimeout = pick('permission-timeout-ms');
  const logLevel = pick('log-level');
  const shellUser = pick('shell-user');

  if (host && host.raw.trim() === '') throw new Error(`${host.source} must not be empty`);
  if (dataDir && dataDir.raw.trim() === '') throw new Error(`${dataDir.source} must not be empty`);
  if (shellUser && shellUser.raw.trim() === '') throw new Error(`${shellUser.source} must not be empty`);

  const envPlugins = envValue(env, 'GATEWAY_PLUGINS');
  const plugins = {
    ...(envPlugins === undefined
      ? {}
      : parsePluginList(envPlugins.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''), 'GATEWAY_PLUGINS')),
    // A flag overrides the env entry of the same plugin.
    ...parsePluginList((flags.get('plugin') ?? []).map(String), '--plugin'),
  };

  const originFlags = (flags.get('allowed-origin') ?? []).map(String);
  const envOrigins = envValue(env, 'GATEWAY_ALLOWED_ORIGINS');
  const allowedOrigins =
    originFlags.length > 0
      ? originFlags.map((origin) => parseOrigin(origin, '--allowed-origin'))
      : (envOrigins ?? '')
          .split(',')
          .filter((origin) => origin.trim() !== '')
          .map((origin) => parseOrigin(origin, 'GATEWAY_ALLOWED_ORIGINS'));

  // Flags replace the env list (as --allowed-origin does); existence is checked when the server starts.
  const rootFlags = (flags.get('workspace-root') ?? []).map(String);
  const envRoots = envValue(env, 'GATEWAY_WORKSPACE_ROOTS');
  const workspaceRoots = rootFlags.length > 0 ? rootFlags : (envRoots ?? '').split(delimiter).filter((root) => root.trim() !== '');
  for (const root of rootFlags) if (root.trim() === '') throw new Error('--workspace-root must not be empty');

  const inspectFlag = flags.get('inspect')?.[0];
  const token = envValue(env, 'GATEWAY_TOKEN')?.trim();

  // ACP agents: a flag wins over the env entry of the same name.
  const envAgents = envValue(env, 'GATEWAY_AGENTS');
  const agents = mergeAgentSpecs(
    { source: 'GATEWAY_AGENTS', specs: envAgents === undefined ? [] : parseAgentsEnv(envAgents) },
    { source: '--agent', specs: (flags.get('agent') ?? []).map((entry) => parseAgentEntry(String(entry), '--agent')) },
  );
  const notifyUrl = pick('notify-url');
  if (notifyUrl) parseNotifyUrl(notifyUrl.raw, notifyUrl.source);
  const agentsFile = pick('agents-file');
  if (agentsFile && agentsFile.raw.trim() === '') throw new Error(`${agentsFile.source} must not be empty`);
  const redis = pick('redis');
  if (redis) parseRedisUrl(redis.raw, redis.source);
  const nodeId = pick('node-id');
  if (nodeId) {
    parseNodeId(nodeId.raw, nodeId.source);
    // A name without a cluster is a mistake in the command line, not something to ignore.
    if (!redis) throw new Error(`${nodeId.source} names this node in a cluster: it needs --redis (or GATEWAY_REDIS_URL)`);
  }
  const runLease = pick('run-lease-ms');
  if (runLease && !redis) throw new Error(`${runLease.source} is the lease of a cluster node's runs: it needs --redis (or GATEWAY_REDIS_URL)`);

  return {
    port: port ? parseInteger(port.raw, port.source, 0, 65_535) : CLI_DEFAULTS.port,
    host: host ? host.raw.trim() : CLI_DEFAULTS.host,
    dataDir: dataDir ? dataDir.raw : CLI_DEFAULTS.dataDir,
    token,
    plugins,
    demoPaceMs: pace ? parseInteger(pace.raw, pace.source, 0, MAX_TIMER_MS) : CLI_DEFAULTS.demoPaceMs,
    permissionTimeoutMs: permissionTimeout ? parseInteger(permissionTimeout.raw, permissionTimeout.source, 1, MAX_TIMER_MS) : CLI_DEFAULTS.permissionTimeoutMs,
    logLevel: logLevel ? parseLogLevel(logLevel.raw, logLevel.source) : CLI_DEFAULTS.logLevel,
    inspect: inspectFlag === undefined ? undefined : inspectFlag === true ? true : parseInspect(inspectFlag),
    allowedOrigins: [...new Set(allowedOrigins)],
    // Whether the user exists and can be switched to is checked when the server starts.
    shellUser: shellUser ? shellUser.raw.trim() : undefined,
    workspaceRoots: [...new Set(workspaceRoots)],
    // Only when given, so the common case keeps its old shape.
    ...(agents.length > 0 ? { agents } : {}),
    ...(agentsFile ? { agentsFile: agentsFile.raw } : {}),
    ...(notifyUrl ? { notifyUrl: notifyUrl.raw.trim() } : {}),
    ...(redis ? { redisUrl: redis.raw.trim() } : {}),
    ...(nodeId ? { nodeId: nodeId.raw.trim() } : {}),
    ...(runLease ? { runLeaseMs: parseInteger(runLease.raw, runLease.source, MIN_RUN_LEASE_MS, MAX_RUN_LEASE_MS) } : {}),
  };
}

/**
 * A redis: or rediss: URL naming a host, with at most a database number as its path; else an
 * Error naming the option. The value is not echoed: it may hold a password.
 */
function parseRedisUrl(raw: string, source: string): void {
  const expected = `${source} expects a redis:// or rediss:// URL like redis://[user:password@]host:6379[/db]`;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(expected);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(expected);
  if (url.hostname === '') throw new Error(`${expected}: the host is missing`);
  if (!/^\/?(\d+)?$/.test(url.pathname)) throw new Error(`${expected}: the path may only be a database number`);
  if (url.hash) throw new Error(`${expected}: no #fragment`);
}

function parseNodeId(raw: string, source: string): void {
  const text = raw.trim();
  if (text === '') throw new Error(`${source} must not be empty`);
  if (text.length > MAX_NODE_ID_LENGTH) throw new Error(`${source} must be at most ${MAX_NODE_ID_LENGTH} characters, got ${text.length}`);
  if (!NODE_ID.test(text)) throw new Error(`${source} may only contain letters, digits and ${NODE_ID_PUNCTUATION_TEXT}, got "${text}"`);
}

/**
 * The node id when `--node-id` is not given: `HOSTNAME:PORT`, which is unique among nodes that
 * listen on fixed ports. With `--port 0` the port is known only after listening, but the node id
 * is needed before (the backend is opened before the gateway is built), so the process id stands
 * in: unique on the host while the process lives. Characters a node id may not hold become "-".
 */
export function defaultNodeId(hostname: string, port: number, pid: number): string {
  const host = hostname.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, MAX_NODE_ID_LENGTH - 12) || 'node';
  return port === 0 ? `${host}:pid${pid}` : `${host}:${port}`;
}

/** The URL with its password (and query) left out: what the banner and logs may show. */
export function redactRedisUrl(raw: string): string {
  try {
    const url = new URL(raw);
    url.password = '';
    url.search = '';
    url.hash = '';
    return url.toString();
  } catch {
    return '(malformed URL)';
  }
}

/** An http: or https: URL, else an Error naming the option (the value is not echoed: it may hold a secret). */
function parseNotifyUrl(raw: string, source: string): void {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`${source} expects an http:// or https:// URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${source} expects an http:// or https:// URL`);
}
