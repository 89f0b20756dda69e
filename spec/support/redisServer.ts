/**
 * A real `redis-server` for a spec file: Debian's binary on 127.0.0.1, a free port, a fresh temp
 * directory, no RDB snapshots, AOF on or off. `restart()` comes back on the same port and
 * directory, so with AOF the data survives it (`kill()` then `restart()` is a crash).
 *
 * Every server this module started is SIGKILLed when the test process exits (and its directory
 * removed), so a failed or interrupted spec never leaves one behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { killOnExit, removeOnExit } from './exitCleanup.js';

const REDIS_SERVER = '/usr/bin/redis-server';
/** How long a server may take to answer PING after it was spawned. */
const START_TIMEOUT_MS = 10_000;
const PING_INTERVAL_MS = 20;
/** Attempts to find a port nobody took between our probe and redis binding it. */
const PORT_ATTEMPTS = 5;
/** How long `stop()` waits for a SIGTERMed server before it SIGKILLs it. */
const STOP_TIMEOUT_MS = 5_000;
/** Tail of the server's own output kept for error messages. */
const OUTPUT_TAIL_CHARS = 4_000;

export interface RedisServerOptions {
  /** Append-only file on (default off). */
  appendonly?: boolean;
  /** fsync policy of the AOF (default `everysec`). */
  appendfsync?: 'everysec' | 'always';
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** The server's working directory (AOF lives here). */
  dir: string;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), then waits for the exit. */
  kill(): Promise<void>;
  /** Stops the server (if running) and starts it again on the same port and directory. */
  restart(): Promise<void>;
}

/** A loopback port nobody listens on right now (for a server that cannot take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true on `+PONG`. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Spawned {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
}

function spawnServer(port: number, dir: string, options: RedisServerOptions): Spawned {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--protected-mode', 'yes',
    '--dir', dir,
    '--save', '',
    '--appendonly', options.appendonly ? 'yes' : 'no',
    '--appendfsync', options.appendfsync ?? 'everysec',
    '--daemonize', 'no',
    '--logfile', '',
  ];
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
  });
  return { child, exited, output: () => output };
}

/** Spawns and waits for PING; rejects (the process killed) if it exits or stays silent. */
async function startOn(port: number, dir: string, options: RedisServerOptions): Promise<Spawned> {
  const spawned = spawnServer(port, dir, options);
  let exited = false;
  void spawned.exited.then(() => (exited = true));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) break;
    if (await ping(port)) return spawned;
    await sleep(PING_INTERVAL_MS);
  }
  spawned.child.kill('SIGKILL');
  await spawned.exited;
  const reason = exited ? 'exited' : `did not answer PING within ${START_TIMEOUT_MS} ms`;
  const error = new Error(`redis-server on port ${port} ${reason}:\n${spawned.output()}`);
  (error as Error & { addressInUse?: boolean }).addressInUse = /Address already in use/i.test(spawned.output());
  throw error;
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  if (!fs.existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} is missing: these specs need a real Redis (apt-get install -y redis-server)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ag-redis-'));
  removeOnExit(dir);
  let port = 0;
  let current: Spawned | null = null;
  for (let attempt = 1; current === null; attempt++) {
    port = await freePort();
    try {
      current = await startOn(port, dir, options);
    } catch (error) {
      const inUse = (error as { addressInUse?: boolean }).addressInUse === true;
      if (!inUse || attempt >= PORT_ATTEMPTS) throw error;
    }
  }

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const spawned = current;
    if (spawned === null) return;
    current = null;
    if (spawned.child.exitCode === null && spawned.child.signalCode === null) spawned.child.kill(signal);
    const timer = setTimeout(() => spawned.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await spawned.exited;
    clearTimeout(timer);
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGTERM');
      // The port was ours a moment ago; another process grabbing it in between is retried briefly.
      for (let attempt = 1; ; attempt++) {
        try {
          current = await startOn(port, dir, options);
          return;
        } catch (error) {
          const inUse = (error as { addressInUse?: boolean }).addressInUse === true;
          if (!inUse || attempt >= PORT_ATTEMPTS) throw error;
          await sleep(100);
        }
      }
    },
  };
}
