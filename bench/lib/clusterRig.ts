/**
 * The processes of the cluster workload, all real and all on 127.0.0.1: one `redis-server` (AOF
 * on, spec/support/redisServer.ts) and N CLI nodes started as `npm start -- --redis … --node-id …`
 * (spec/support/cliProcess.ts), sharing one GATEWAY_TOKEN, each offering the `bench` agent
 * (bench/servers/streamAgent.mjs) through an agents file. Everything lives in one temp directory.
 * `stop()` ends the nodes (SIGTERM, then SIGKILL), Redis and the directory; an exit hook SIGKILLs
 * whatever is left if the bench process ends some other way (spec/support/exitCleanup.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Redis } from 'ioredis';

import { startCli, type CliChild } from '../../spec/support/cliProcess.js';
import { killOnExit, removeOnExit } from '../../spec/support/exitCleanup.js';
import { startRedis, type RedisServer } from '../../spec/support/redisServer.js';

export const BENCH_AGENT = 'bench';
/** How long a SIGTERMed node may take to close before it is SIGKILLed. */
const NODE_STOP_TIMEOUT_MS = 5_000;
/** statfs `type` of tmpfs: fsync there costs nothing, so an fsync figure would mean nothing. */
const TMPFS_MAGIC = 0x01021994;

export interface ClusterNode {
  name: string;
  cli: CliChild;
  /** http://127.0.0.1:PORT */
  http: string;
  /** ws://127.0.0.1:PORT/ws?token=… */
  ws: string;
}

export interface ClusterRig {
  redis: RedisServer;
  redisPid: number;
  /** The AOF's file system is tmpfs (fsync free: the `always` figure is not what a disk costs). */
  aofOnTmpfs: boolean;
  nodes: ClusterNode[];
  /** A command on the rig's own Redis connection (CONFIG SET …). */
  redisCall(...args: string[]): Promise<unknown>;
  createSession(node: ClusterNode): Promise<string>;
  /** Deletes a finished session and its log (retried while its run is still ending). */
  deleteSession(node: ClusterNode, sessionId: string): Promise<void>;
  stop(): Promise<void>;
}

async function stopNode(cli: CliChild): Promise<void> {
  if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGTERM');
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), NODE_STOP_TIMEOUT_MS);
  await cli.exited;
  clearTimeout(timer);
}

export async function startClusterRig(nodeNames: string[], options: { log(line: string): void }): Promise<ClusterRig> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'ag-bench-cluster-')));
  const forgetRoot = removeOnExit(root);
  const workspace = join(root, 'workspace');
  mkdirSync(workspace);
  const agentsFile = join(root, 'agents.json');
  const agentPath = fileURLToPath(new URL('../servers/streamAgent.mjs', import.meta.url));
  writeFileSync(agentsFile, JSON.stringify({ [BENCH_AGENT]: { command: process.execPath, args: [agentPath] } }));
  const token = randomBytes(18).toString('base64url');
  const auth = { authorization: `Bearer ${token}` };

  let redis: RedisServer | null = null;
  let client: Redis | null = null;
  const nodes: ClusterNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => stopNode(node.cli)));
    client?.disconnect();
    await redis?.stop();
    rmSync(root, { recursive: true, force: true });
    forgetRoot();
  };
  try {
    redis = await startRedis({ appendonly: true, appendfsync: 'everysec' });
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    // An AOF rewrite in the middle of a trial would land on whichever configuration ran then.
    await client.call('CONFIG', 'SET', 'auto-aof-rewrite-percentage', '0');
    const info = String(await client.call('INFO', 'server'));
    const redisPid = Number(/process_id:(\d+)/.exec(info)?.[1] ?? -1);
    const aofOnTmpfs = statfsSync(redis.dir).type === TMPFS_MAGIC;

    // Started side by side; every start settles before a failure is thrown, so stop() ends them all.
    const starts = await Promise.allSettled(
      nodeNames.map(async (name) => {
        const dataDir = join(root, `data-${name}`);
        mkdirSync(dataDir);
        const cli = await startCli(
          ['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--redis', redis!.url, '--node-id', name, '--log-level', 'error', '--workspace-root', workspace, '--agents-file', agentsFile],
          { GATEWAY_TOKEN: token },
          { startTimeoutMs: 60_000 },
        );
        killOnExit(cli.child);
        nodes.push({ name, cli, http: cli.url, ws: `${cli.url.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}` });
      }),
    );
    const failed = starts.find((start): start is PromiseRejectedResult => start.status === 'rejected');
    if (failed) throw failed.reason;
    nodes.sort((a, b) => nodeNames.indexOf(a.name) - nodeNames.indexOf(b.name));
    options.log(`  redis pid ${redisPid} (AOF in ${aofOnTmpfs ? 'tmpfs' : 'a disk file system'}), nodes ${nodes.map((n) => `${n.name} pid ${n.cli.child.pid}`).join(', ')}`);

    const rest = async (node: ClusterNode, method: string, path: string, body?: unknown) => {
      const response = await fetch(`${node.http}${path}`, {
        method,
        headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json().catch(() => null)) as Record<string, unknown> | null };
    };
    const redisClient = client;
    return {
      redis,
      redisPid,
      aofOnTmpfs,
      nodes,
      redisCall: (...args) => redisClient.call(args[0], ...args.slice(1)),
      async createSession(node) {
        const { status, body } = await rest(node, 'POST', '/api/providers/sessions', { provider: BENCH_AGENT, projectPath: workspace });
        if (status !== 201 || typeof body?.sessionId !== 'string') throw new Error(`creating a session on ${node.name}: ${status} ${JSON.stringify(body)}`);
        return body.sessionId;
      },
      async deleteSession(node, sessionId) {
        for (let attempt = 0; attempt < 50; attempt++) {
          const { status } = await rest(node, 'DELETE', `/api/providers/sessions/${sessionId}`);
          if (status === 200 || status === 204 || status === 404) return;
          if (status !== 409) throw new Error(`deleting session ${sessionId}: ${status}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        throw new Error(`session ${sessionId} still running after 5 s`);
      },
      stop,
    };
  } catch (error) {
    const tails = nodes.map((node) => `${node.name}: ${node.cli.output().slice(-1000)}`).join('\n');
    await stop();
    if (tails) options.log(tails);
    throw error;
  }
}

/** user + system CPU time of a process so far (Linux /proc; NaN elsewhere), in ms. */
export function cpuMsOf(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime), in clock ticks: 100 a second on Linux.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}
