import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { runCli, type CliProcess, type ShutdownSignal, type StandaloneHandle } from '../gateway/app/cli/main.js';
import { openClusterBackend } from '../gateway/app/cli/clusterRest.js';
import { commandName, defaultNodeId, parseCliOptions, redactRedisUrl, type CliOptions } from '../gateway/app/cli/options.js';
import type { ClusterBackend } from '../persistence/cluster/types.js';
import { loadOrCreateToken } from '../gateway/app/cli/token.js';

function parse(argv: string[], env: NodeJS.ProcessEnv = {}): CliOptions {
  const result = parseCliOptions(argv, env);
  if ('help' in result) throw new Error('unexpected help');
  return result;
}

function parseError(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseCliOptions(argv, env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`no error for ${JSON.stringify(argv)} ${JSON.stringify(env)}`);
}

// ---------------------------------------------------------------- options
const options = suite('parseCliOptions');

options('defaults with an empty command line and environment', () => {
  assert.equal(parse([]), {
    port: 3001,
    host: '127.0.0.1',
    dataDir: './data',
    token: undefined,
    plugins: {},
    demoPaceMs: 50,
    permissionTimeoutMs: 60_000,
    logLevel: 'info',
    inspect: undefined,
    allowedOrigins: [],
    shellUser: undefined,
    workspaceRoots: [],
  });
});

options('every flag, in both --x=v and --x v forms', () => {
  const spaced = parse([
    '--port', '4000', '--host', '::1', '--data-dir', '/tmp/d', '--plugin', 'web=5000', '--plugin', 'ide-2=5001',
    '--demo-pace-ms', '0', '--permission-timeout-ms', '1500', '--log-level', 'debug', '--inspect',
    '--allowed-origin', 'http://localhost:5173', '--allowed-origin', 'https://app.example.com', '--shell-user', 'nobody',
    '--workspace-root', '/srv/a', '--workspace-root', 'rel/b',
  ]);
  const equals = parse([
    '--port=4000', '--host=::1', '--data-dir=/tmp/d', '--plugin=web=5000', '--plugin=ide-2=5001',
    '--demo-pace-ms=0', '--permission-timeout-ms=1500', '--log-level=debug', '--inspect',
    '--allowed-origin=http://localhost:5173', '--allowed-origin=https://app.example.com', '--shell-user=nobody',
    '--workspace-root=/srv/a', '--workspace-root=rel/b',
  ]);
  const expected: CliOptions = {
    port: 4000,
    host: '::1',
    dataDir: '/tmp/d',
    token: undefined,
    plugins: { web: 5000, 'ide-2': 5001 },
    demoPaceMs: 0,
    permissionTimeoutMs: 1500,
    logLevel: 'debug',
    inspect: true,
    allowedOrigins: ['http://localhost:5173', 'https://app.example.com'],
    shellUser: 'nobody',
    workspaceRoots: ['/srv/a', 'rel/b'],
  };
  assert.equal(spaced, expected);
  assert.equal(equals, expected);
});

options('environment variables, and flags winning over them', () => {
  const env = {
    PORT: '5555',
    GATEWAY_DATA_DIR: '/var/lib/ag',
    GATEWAY_TOKEN: '  tok-123  ',
    GATEWAY_PLUGINS: 'alpha=7001, beta=7002,',
    GATEWAY_HOST: '127.0.0.2',
    GATEWAY_LOG_LEVEL: 'WARN',
    GATEWAY_DEMO_PACE_MS: '10',
    GATEWAY_PERMISSION_TIMEOUT_MS: '2000',
    GATEWAY_ALLOWED_ORIGINS: 'http://a.test,http://b.test:8080',
    GATEWAY_SHELL_USER: ' 65534 ',
    GATEWAY_WORKSPACE_ROOTS: ['/srv/one', '', '/srv/two', '/srv/one'].join(path.delimiter),
  };
  const fromEnv = parse([], env);
  assert.is(fromEnv.port, 5555);
  assert.is(fromEnv.dataDir, '/var/lib/ag');
  assert.is(fromEnv.token, 'tok-123');
  assert.equal(fromEnv.plugins, { alpha: 7001, beta: 7002 });
  assert.is(fromEnv.host, '127.0.0.2');
  assert.is(fromEnv.logLevel, 'warn');
  assert.is(fromEnv.demoPaceMs, 10);
  assert.is(fromEnv.permissionTimeoutMs, 2000);
  assert.equal(fromEnv.allowedOrigins, ['http://a.test', 'http://b.test:8080']);
  assert.is(fromEnv.shellUser, '65534');
  assert.equal(fromEnv.workspaceRoots, ['/srv/one', '/srv/two'], 'path.delimiter-separated, empty entries and repeats dropped');

  const flagged = parse(['--port', '6000', '--data-dir', './x', '--plugin', 'beta=8002', '--allowed-origin', 'http://c.test', '--log-level', 'error'], env);
  assert.is(flagged.port, 6000);
  assert.is(flagged.dataDir, './x');
  assert.equal(flagged.plugins, { alpha: 7001, beta: 8002 });
  assert.equal(flagged.allowedOrigins, ['http://c.test']);
  assert.is(flagged.logLevel, 'error');
  assert.is(parse(['--shell-user', 'agent'], env).shellUser, 'agent');
  assert.equal(parse(['--workspace-root', '/'], env).workspaceRoots, ['/'], 'flags replace the env list; "/" is any directory');

  // Empty variables count as unset.
  assert.is(parse([], { PORT: '', GATEWAY_TOKEN: ' ' }).port, 3001);
  assert.is(parse([], { GATEWAY_TOKEN: ' ' }).token, undefined);
});

options('--inspect with a URL, and port 0 for any free port', () => {
  assert.is(parse(['--inspect=ws://127.0.0.1:9229']).inspect, 'ws://127.0.0.1:9229');
  assert.is(parse(['--port', '0']).port, 0);
  assert.equal(parse(['--allowed-origin', '*']).allowedOrigins, ['*']);
  assert.equal(parse(['--allowed-origin', 'http://localhost:5173/']).allowedOrigins, ['http://localhost:5173']);
});

options('unknown flags and bad values throw a message naming the option', () => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--bogus'], {}, /Unknown option --bogus/],
    [['serve'], {}, /Unexpected argument "serve"/],
    [['-p', '3'], {}, /Unexpected argument "-p"/],
    [['--port'], {}, /--port needs a value/],
    [['--port', '--host', 'x'], {}, /--port needs a value/],
    [['--port', 'abc'], {}, /--port must be a whole number/],
    [['--port', '70000'], {}, /--port must be between 0 and 65535/],
    [['--port', '-1'], {}, /--port needs a value|--port must be a whole number/],
    [['--port=1.5'], {}, /--port must be a whole number/],
    [['--port', '1', '--port', '2'], {}, /--port is given more than once/],
    [[], { PORT: 'eighty' }, /PORT must be a whole number/],
    [['--host='], {}, /--host must not be empty/],
    [['--plugin', 'noport'], {}, /--plugin expects NAME=PORT/],
    [['--plugin', 'bad name=80'], {}, /plugin name "bad name"/],
    [['--plugin', 'x/y=80'], {}, /plugin name "x\/y"/],
    [['--plugin', 'web=0'], {}, /between 1 and 65535/],
    [['--plugin', 'web=65536'], {}, /between 1 and 65535/],
    [['--plugin', 'web=1', '--plugin', 'web=2'], {}, /plugin "web" is given twice/],
    [[], { GATEWAY_PLUGINS: 'a=1,=2' }, /GATEWAY_PLUGINS expects NAME=PORT/],
    [[], { GATEWAY_PLUGINS: 'a=1,a=2' }, /GATEWAY_PLUGINS: plugin "a" is given twice/],
    [['--demo-pace-ms', '-5'], {}, /needs a value|whole number/],
    [['--permission-timeout-ms', '0'], {}, /--permission-timeout-ms must be between 1/],
    [['--log-level', 'loud'], {}, /--log-level must be one of debug, info, warn, error, silent/],
    [['--inspect=http://x'], {}, /--inspect expects a ws:\/\/ or wss:\/\/ URL/],
    [['--inspect='], {}, /--inspect expects/],
    [['--allowed-origin', 'localhost:5173'], {}, /--allowed-origin must be an origin/],
    [['--allowed-origin', 'http://a.test/path'], {}, /--allowed-origin must be an origin/],
    [['--help=yes'], {}, /--help takes no value/],
    [['--shell-user='], {}, /--shell-user must not be empty/],
    [['--shell-user'], {}, /--shell-user needs a value/],
    [['--shell-user', 'a', '--shell-user', 'b'], {}, /--shell-user is given more than once/],
    [['--workspace-root'], {}, /--workspace-root needs a value/],
    [['--workspace-root='], {}, /--workspace-root must not be empty/],
  ];
  for (const [argv, env, message] of cases) assert.match(parseError(argv, env), message, JSON.stringify(argv));
});

options('[cluster] --redis and --node-id, from flags or the environment (flags win)', () => {
  assert.equal(parse(['--redis', 'redis://127.0.0.1:6379']).redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(parse(['--redis=rediss://user:p%40ss@cache.internal:6380/2']).redisUrl, 'rediss://user:p%40ss@cache.internal:6380/2');
  const fromEnv = parse([], { GATEWAY_REDIS_URL: ' redis://r:6379/0 ', GATEWAY_NODE_ID: 'gw-1' });
  assert.is(fromEnv.redisUrl, 'redis://r:6379/0');
  assert.is(fromEnv.nodeId, 'gw-1');
  const flagsWin = parse(['--redis', 'redis://a:1', '--node-id', 'host-a.example:3001'], { GATEWAY_REDIS_URL: 'redis://b:2', GATEWAY_NODE_ID: 'b' });
  assert.is(flagsWin.redisUrl, 'redis://a:1');
  assert.is(flagsWin.nodeId, 'host-a.example:3001');
  const single = parse([]);
  assert.not.ok('redisUrl' in single || 'nodeId' in single, 'absent without --redis: the one-node shape is unchanged');
  assert.equal(parse([], { GATEWAY_REDIS_URL: '  ' }).redisUrl, undefined, 'an empty variable counts as unset');
});

options('[cluster] a --redis that is not a redis:// URL, or a bad --node-id, is refused without echoing a password', () => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--redis', 'http://127.0.0.1:6379'], {}, /--redis expects a redis:\/\/ or rediss:\/\/ URL/],
    [['--redis', '127.0.0.1:6379'], {}, /--redis expects a redis:\/\/ or rediss:\/\/ URL/],
    [['--redis', 'localhost'], {}, /--redis expects a redis:\/\/ or rediss:\/\/ URL/],
    [['--redis', 'redis://'], {}, /the host is missing/],
    [['--redis', 'redis://h:6379/db0'], {}, /the path may only be a database number/],
    [['--redis', 'redis://h:99999'], {}, /--redis expects/],
    [['--redis='], {}, /--redis expects/],
    [['--redis'], {}, /--redis needs a value/],
    [['--redis', 'redis://a:1', '--redis', 'redis://b:2'], {}, /--redis is given more than once/],
    [[], { GATEWAY_REDIS_URL: 'https://x' }, /GATEWAY_REDIS_URL expects a redis:\/\//],
    [['--node-id', 'gw-1'], {}, /--node-id names this node in a cluster: it needs --redis/],
    [[], { GATEWAY_NODE_ID: 'gw-1' }, /GATEWAY_NODE_ID names this node in a cluster: it needs --redis/],
    [['--redis', 'redis://a:1', '--node-id', 'gw 1'], {}, /--node-id may only contain letters, digits/],
    [['--redis', 'redis://a:1', '--node-id', 'a/b'], {}, /--node-id may only contain/],
    [['--redis', 'redis://a:1', '--node-id='], {}, /--node-id must not be empty/],
    [['--redis', 'redis://a:1', '--node-id', 'n'.repeat(129)], {}, /--node-id must be at most 128 characters/],
  ];
  for (const [argv, env, message] of cases) assert.match(parseError(argv, env), message, JSON.stringify([argv, env]));
  const secret = parseError(['--redis', 'http://user:hunter2@h:6379']);
  assert.not.ok(secret.includes('hunter2'), 'the password is not echoed');
});

options('[cluster] the default node id: HOSTNAME:PORT, HOSTNAME:pidPID with port 0; URLs shown without password', () => {
  assert.is(defaultNodeId('box-1', 3001, 42), 'box-1:3001');
  assert.is(defaultNodeId('box-1', 0, 42), 'box-1:pid42', 'port 0 is known only after listening: the pid stands in');
  assert.is(defaultNodeId('odd host/name', 80, 1), 'odd-host-name:80');
  assert.is(defaultNodeId('', 80, 1), 'node:80');
  assert.ok(defaultNodeId('h'.repeat(300), 65535, 1).length <= 128);
  assert.is(redactRedisUrl('redis://user:hunter2@cache:6379/1'), 'redis://user@cache:6379/1');
  assert.is(redactRedisUrl('rediss://:hunter2@cache:6380'), 'rediss://cache:6380');
  assert.is(redactRedisUrl('redis://cache:6379?password=hunter2'), 'redis://cache:6379');
  assert.is(redactRedisUrl('::'), '(malformed URL)');
});

options('[cluster] a backend that cannot be opened fails with the URL (no password) and the reason; one that hangs, after the bound', async () => {
  const base = { nodeId: 'n1', maxEventsPerSession: 10, maxBytesPerSession: 1000, tailEvents: 5 };
  const refused = await openClusterBackend({ ...base, url: 'redis://u:hunter2@127.0.0.1:1/0' }, async () => {
    throw new Error('connect ECONNREFUSED 127.0.0.1:1 (password hunter2)');
  }).then(
    () => null,
    (error: Error) => error.message,
  );
  assert.is(refused, 'cannot open the Redis backend at redis://u@127.0.0.1:1/0 (--redis): connect ECONNREFUSED 127.0.0.1:1 (password ***)');
  let closedLate = false;
  let resolveLate: (backend: ClusterBackend) => void = () => undefined;
  const hung = await openClusterBackend(
    { ...base, url: 'redis://127.0.0.1:2' },
    () => new Promise<ClusterBackend>((resolve) => (resolveLate = resolve)),
    30,
  ).then(
    () => null,
    (error: Error) => error.message,
  );
  assert.is(hung, 'cannot open the Redis backend at redis://127.0.0.1:2 (--redis): no answer within 30 ms');
  resolveLate({ close: async () => void (closedLate = true) } as unknown as ClusterBackend);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(closedLate, 'a backend that opens after the bound is closed again');
});

options('--help lists every option with its environment variable and default', () => {
  for (const argv of [['--help'], ['-h'], ['--port', '1', '--help']]) {
    const result = parseCliOptions(argv, {});
    assert.ok('help' in result, JSON.stringify(argv));
  }
  const result = parseCliOptions(['--help'], {});
  if (!('help' in result)) throw new Error('no help');
  const help = result.help;
  for (const flag of ['--port', '--host', '--data-dir', '--plugin', '--demo-pace-ms', '--permission-timeout-ms', '--log-level', '--inspect', '--allowed-origin', '--shell-user', '--workspace-root', '--redis', '--node-id', '--help']) {
    assert.ok(help.includes(flag), flag);
  }
  for (const env of ['PORT', 'GATEWAY_HOST', 'GATEWAY_DATA_DIR', 'GATEWAY_PLUGINS', 'GATEWAY_TOKEN', 'GATEWAY_DEMO_PACE_MS', 'GATEWAY_PERMISSION_TIMEOUT_MS', 'GATEWAY_LOG_LEVEL', 'GATEWAY_ALLOWED_ORIGINS', 'GATEWAY_SHELL_USER', 'GATEWAY_WORKSPACE_ROOTS', 'GATEWAY_REDIS_URL', 'GATEWAY_NODE_ID']) {
    assert.ok(help.includes(env), env);
  }
  for (const fact of ['default: 3001', 'default: 127.0.0.1', 'default: ./data', 'default: 50', 'default: 60000', 'default: info', 'default: the directory the gateway starts in']) {
    assert.ok(help.includes(fact), fact);
  }
});

options('--help lists every REST route and the record subcommand; under npm it says "npm start --"', () => {
  const help = (parseCliOptions(['--help'], {}) as { help: string }).help;
  for (const route of [
    'GET    /healthz',
    'POST   /api/providers/sessions',
    'GET    /api/providers/sessions?limit=&before=',
    'GET    /api/providers/sessions/running',
    'GET    /api/providers/sessions/:id ',
    'DELETE /api/providers/sessions/:id ',
    'GET    /api/providers/sessions/:id/messages?afterSeq=&limit=',
    'GET    /api/actors',
    'GET    /api/config',
  ]) {
    assert.ok(help.includes(route), route);
  }
  assert.match(help, /^Usage: agent-gateway \[options\]$/m);
  assert.match(help, /^ {7}agent-gateway record --out FILE/m);
  const underNpm = (parseCliOptions(['--help'], { npm_lifecycle_event: 'start' }) as { help: string }).help;
  assert.match(underNpm, /^Usage: npm start -- \[options\]$/m);
  assert.match(underNpm, /npm start -- record --out FILE/);
  assert.equal(commandName({ npm_lifecycle_event: 'dev' }), 'npm run dev --');
  assert.equal(commandName({}), 'agent-gateway');
});

options.run();

// ---------------------------------------------------------------- token file
const token = suite('loadOrCreateToken');
const tempDirs: string[] = [];
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ag-'));
  tempDirs.push(dir);
  return dir;
};

token.after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

token('GATEWAY_TOKEN wins and no file is written', () => {
  const dir = path.join(tempDir(), 'data');
  assert.equal(loadOrCreateToken(dir, 'from-env'), { token: 'from-env', source: 'env', path: null });
  assert.not.ok(fs.existsSync(dir));
});

token('first start creates a 0600 token file; later starts read it back', () => {
  const dir = path.join(tempDir(), 'nested', 'data');
  const first = loadOrCreateToken(dir, undefined);
  assert.is(first.source, 'created');
  assert.is(first.path, path.join(dir, 'token'));
  assert.match(first.token, /^[A-Za-z0-9_-]{43}$/);
  assert.is(fs.statSync(path.join(dir, 'token')).mode & 0o777, 0o600);
  assert.is(fs.readFileSync(path.join(dir, 'token'), 'utf8').trim(), first.token);

  const second = loadOrCreateToken(dir, undefined);
  assert.equal(second, { token: first.token, source: 'file', path: first.path });
  assert.is(loadOrCreateToken(dir, '').token, first.token, 'an empty env token counts as unset');
  assert.equal(fs.readdirSync(dir), ['token'], 'no temporary file left');

  const other = loadOrCreateToken(path.join(tempDir(), 'data'), undefined);
  assert.is.not(other.token, first.token);
});

token('a token file readable by others is tightened; an empty one is replaced', () => {
  const dir = tempDir();
  const file = path.join(dir, 'token');
  fs.writeFileSync(file, 'handwritten\n', { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  assert.equal(loadOrCreateToken(dir, undefined), { token: 'handwritten', source: 'file', path: file });
  assert.is(fs.statSync(file).mode & 0o777, 0o600);

  fs.writeFileSync(file, '  \n');
  const replaced = loadOrCreateToken(dir, undefined);
  assert.is(replaced.source, 'created');
  assert.is(fs.readFileSync(file, 'utf8').trim(), replaced.token);
  assert.equal(fs.readdirSync(dir), ['token']);
});

token.run();

// ---------------------------------------------------------------- the command
const command = suite('runCli');

function fakeProcess(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const exits: number[] = [];
  let out = '';
  let err = '';
  const handlers = new Map<ShutdownSignal, () => void>();
  let onExit: (() => void) | null = null;
  const proc: CliProcess = {
    argv,
    env,
    stdout: (text) => (out += text),
    stderr: (text) => (err += text),
    exit: (code) => {
      exits.push(code);
      onExit?.();
    },
    onSignal: (signal, handler) => handlers.set(signal, handler),
  };
  const exited = () =>
    new Promise<number>((resolve) => {
      if (exits.length > 0) resolve(exits[0]);
      else onExit = () => resolve(exits[0]);
    });
  return { proc, exits, handlers, exited, out: () => out, err: () => err };
}

const neverStart = async (): Promise<StandaloneHandle> => {
  throw new Error('start must not be called');
};

command('--help prints the help and exits 0 without starting', async () => {
  const fake = fakeProcess(['--help']);
  await runCli(neverStart, fake.proc);
  assert.equal(fake.exits, [0]);
  assert.match(fake.out(), /Usage: agent-gateway/);
});

command('a bad command line prints the reason and exits 2', async () => {
  const fake = fakeProcess(['--port', 'abc']);
  await runCli(neverStart, fake.proc);
  assert.equal(fake.exits, [2]);
  assert.match(fake.err(), /--port must be a whole number/);
  assert.match(fake.err(), /--help/);
});

command('a start failure exits 1', async () => {
  const fake = fakeProcess([]);
  await runCli(async () => {
    throw new Error('database is locked');
  }, fake.proc);
  assert.equal(fake.exits, [1]);
  assert.is(fake.err(), 'agent-gateway: could not start: database is locked\n', 'no hint for a failure no option fixes');
});

command('a bad command line under npm start says "npm start -- --help"', async () => {
  const fake = fakeProcess(['--port', 'abc'], { npm_lifecycle_event: 'start' });
  await runCli(neverStart, fake.proc);
  assert.equal(fake.exits, [2]);
  assert.match(fake.err(), /Run "npm start -- --help" to list the options/);
  const plain = fakeProcess(['--port', 'abc']);
  await runCli(neverStart, plain.proc);
  assert.match(plain.err(), /Run "agent-gateway --help" to list the options/);
});

command('the parsed options reach start; SIGTERM closes and exits 0', async () => {
  const fake = fakeProcess(['--port', '0'], { GATEWAY_TOKEN: 't' });
  let received: CliOptions | null = null;
  let closed = 0;
  await runCli(async (opts) => {
    received = opts;
    return { close: async () => void closed++ };
  }, fake.proc);
  assert.is(received!.port, 0);
  assert.is(received!.token, 't');
  assert.equal(fake.exits, []);
  assert.ok(fake.handlers.has('SIGINT') && fake.handlers.has('SIGTERM'));
  fake.handlers.get('SIGTERM')!();
  assert.is(await fake.exited(), 0);
  assert.is(closed, 1);
});

command('a close that throws exits 1', async () => {
  const fake = fakeProcess([]);
  await runCli(async () => ({
    close: async () => {
      throw new Error('flush failed');
    },
  }), fake.proc);
  fake.handlers.get('SIGINT')!();
  assert.is(await fake.exited(), 1);
  assert.match(fake.err(), /flush failed/);
});

command('a close that hangs is cut off by the force-exit bound; a second signal exits at once', async () => {
  const hung = fakeProcess([]);
  await runCli(async () => ({ close: () => new Promise<void>(() => {}) }), hung.proc, 20);
  hung.handlers.get('SIGINT')!();
  assert.is(await hung.exited(), 1);
  assert.match(hung.err(), /exiting anyway/);

  const impatient = fakeProcess([]);
  let closes = 0;
  await runCli(async () => ({ close: () => new Promise<void>(() => void closes++) }), impatient.proc, 60_000);
  impatient.handlers.get('SIGINT')!();
  impatient.handlers.get('SIGINT')!();
  assert.equal(impatient.exits, [1]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(closes, 1, 'close is called once');
});

command.run();
