/**
 * Cluster: what a run costs when its viewers are on other nodes (docs/CLUSTER.md). Everything is
 * real and on 127.0.0.1: one `redis-server` (AOF on, `appendfsync everysec`), three CLI nodes
 * (`--redis`, node ids a, b, c), a load generator process holding the subscriber sockets.
 *
 * The producer is the producer of the fan-out and latency workloads (bench/servers/producer.ts),
 * moved into an ACP agent the node runs as provider `bench` (bench/servers/streamAgent.mjs): the
 * CLI has no in-process writer to drive, and its demo agent says at most ~80 words a run. Each
 * chunk becomes a `stream_delta` frame, sequenced on node A, written to Redis by A, and (cluster)
 * read back by B and C with their one XREAD reader each.
 *
 * Three configurations, interleaved every repetition (ABC, CBA, …) so a shared machine's drift
 * lands on all of them; the three nodes and Redis stay up throughout:
 *   one      the run on A, every subscriber on A (B and C idle: no actor for the session)
 *   cluster  the run on A, the subscribers spread over B and C, 50/50
 *   always   as `one`, with Redis at `appendfsync always` (CONFIG SET for that trial only)
 *
 * Two trials per configuration and repetition, each on a fresh session:
 *   burst  N chunks (4 500: within the session's log, see SIZES) as fast as the agent can write
 *          them (100 per write, one write per turn): frames/s = chunks received, all subscribers
 *          together ÷ (last chunk received − first chunk written); and the CPU the three nodes and
 *          Redis used per delivered frame (/proc, Linux)
 *   paced  200 chunks/s for 10 s (20 000 frames/s to 100 sockets, a fifth of what one node
 *          delivers here): p50 / p99 / max delivery latency over every frame of every subscriber.
 *          A burst's latency is only its queue; a paced stream below capacity shows what each
 *          step adds (the hop: A's write, B's and C's XREAD, their fan-out).
 *
 * The run is started by a socket of its own on A that stays connected (uncounted) until the run
 * ends, as the tab that sent the prompt does.
 *
 * Latency is measured from the agent's write, not from the frame's `timestamp`: that field is the
 * node's wall clock in whole milliseconds (ISO), too coarse for sub-millisecond percentiles, and
 * is stamped where the frame is serialized. The agent stamps each chunk with CLOCK_MONOTONIC in µs
 * (the time it was due, for a paced stream), and the load generator subtracts it from the same
 * clock on receipt, as the latency workload does. What lies between the write and the sequencing
 * (a pipe, a JSON parse, the mapping) is the same in every configuration, so the differences are
 * the cluster's.
 */
import { DEFAULT_LIMITS } from '../../gateway/config.js';
import { cpuMsOf, startClusterRig, type ClusterRig } from '../lib/clusterRig.js';
import { spawnChild, type Remote } from '../lib/ipc.js';
import { spread } from '../lib/stats.js';
import { metric, type BenchContext, type Check, type Metric, type Workload } from '../lib/workload.js';
import type { ClusterLoadApi } from '../load/clusterLoad.js';

type Config = 'one' | 'cluster' | 'always';
const CONFIGS: readonly Config[] = ['one', 'cluster', 'always'];
const CONFIG_LABELS: Record<Config, string> = {
  one: 'one node',
  cluster: 'cluster (A → B, C)',
  always: 'one node, fsync always',
};

interface Size {
  /** Chunks of a burst. */
  events: number;
  subscribers: number;
  /** The paced stream: chunks per second, for how long. */
  rate: number;
  seconds: number;
}

/**
 * A burst stays inside the session's log (DEFAULT_LIMITS.maxEventsPerSession, 5 000 events): the
 * agent is a process of its own and outruns 100 sockets, so in a longer burst a lagging socket
 * falls out of the log and is sent the gap notice (by design, on SQLite too). The fan-out
 * workload's producer shares the server's event loop and cannot run that far ahead.
 */
const SIZES: Record<BenchContext['size'], Size> = {
  full: { events: 4_500, subscribers: 100, rate: 200, seconds: 10 },
  quick: { events: 2_000, subscribers: 100, rate: 200, seconds: 3 },
  tiny: { events: 200, subscribers: 4, rate: 200, seconds: 0.5 },
};
/** The run's frames besides the chunks: the prompt's `text`, `stream_end`, `complete`. */
const RUN_FRAMES = 3;
if (SIZES.full.events + RUN_FRAMES > DEFAULT_LIMITS.maxEventsPerSession) throw new Error('the cluster burst must fit in the session log');
/** Chunks per agent write in a burst (the fan-out workload hands over 100 per turn too). */
const BURST_BATCH = 100;
/** The agent waits this long after the prompt before its first chunk: the run's start has settled. */
const AGENT_WAIT_MS = 300;
/** The warm-up round (unrecorded): a short burst and paced stream in each configuration (none in a tiny run). */
const WARMUP: Pick<Size, 'events' | 'seconds'> = { events: 1_000, seconds: 1 };

interface Trial {
  framesPerSecond: number;
  /** Chunks some subscriber never got (gaps; the frames/s counts only what arrived). */
  missing: number;
  cpuUsPerFrame: number;
  p50: number;
  p99: number;
  max: number;
  latencyFrames: number;
}

export const cluster: Workload = {
  id: 'cluster',
  title: 'Cluster hop',
  summary: 'a run on node A streamed to 100 subscribers on A, or on B and C (Redis XREAD hop); frames/s, p50/p99, fsync always vs everysec',
  async run(ctx: BenchContext) {
    const size = { ...SIZES[ctx.size] };
    if (process.env.BENCH_CLUSTER_RATE) size.rate = Number(process.env.BENCH_CLUSTER_RATE);
    const half = Math.ceil(size.subscribers / 2);
    let rig: ClusterRig | null = null;
    let aofOnTmpfs = false;
    let load: Remote<ClusterLoadApi> | null = null;
    let gaps = 0;
    let dups = 0;
    let incomplete = 0;
    let lostFrames = 0;
    let protocolErrors = 0;
    const runs: Record<Config, Trial[]> = { one: [], cluster: [], always: [] };
    try {
      rig = await startClusterRig(['a', 'b', 'c'], ctx);
      aofOnTmpfs = rig.aofOnTmpfs;
      load = spawnChild<ClusterLoadApi>(new URL('../load/clusterLoad.ts', import.meta.url), { label: 'cluster load generator' });
      const [a, b, c] = rig.nodes;
      const pids = [...rig.nodes.map((node) => node.cli.child.pid ?? -1), rig.redisPid];
      const cpuMs = () => pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);

      /** One run on a fresh session, watched by every subscriber until its `complete`. */
      const oneRun = async (config: Config, content: string, expected: number, latencySamples: number, timeoutMs: number) => {
        const r = rig!;
        const l = load!;
        const urls = Array.from({ length: size.subscribers }, (_, i) => (config === 'cluster' ? (i < half ? b : c) : a).ws);
        const sessionId = await r.createSession(a);
        if (config === 'always') await r.redisCall('CONFIG', 'SET', 'appendfsync', 'always');
        try {
          await l.call('open', { urls, sessionId, lastSeq: 0, timeoutMs: 30_000 });
          await l.call('arm', { latencySamples });
          const cpuBefore = cpuMs();
          await l.call('start', { url: a.ws, sessionId, content, timeoutMs: 30_000 });
          const totals = await l.call('awaitComplete', { timeoutMs }, timeoutMs + 10_000);
          const cpu = cpuMs() - cpuBefore;
          gaps += totals.gaps;
          dups += totals.dups;
          incomplete += totals.clients - totals.completedOnce;
          const missing = expected * totals.clients - totals.deltas;
          lostFrames += missing;
          protocolErrors += totals.protocolErrors;
          return { totals, cpu, missing };
        } finally {
          if (config === 'always') await r.redisCall('CONFIG', 'SET', 'appendfsync', 'everysec');
          await l.call('close', null);
          await r.deleteSession(a, sessionId);
        }
      };

      const trial = async (config: Config, s: Pick<Size, 'events' | 'rate' | 'seconds'>): Promise<Trial> => {
        const burst = await oneRun(config, `burst ${s.events} ${BURST_BATCH} ${AGENT_WAIT_MS}`, s.events, 0, 180_000);
        const framesPerSecond = burst.totals.deltas / ((burst.totals.lastReceivedUs - burst.totals.firstSentUs) / 1e6);
        const paced = Math.max(1, Math.round(s.rate * s.seconds));
        const stream = await oneRun(config, `pace ${paced} ${s.rate} ${AGENT_WAIT_MS}`, paced, paced * size.subscribers, s.seconds * 4_000 + 60_000);
        const latency = stream.totals.latency!;
        return {
          framesPerSecond,
          missing: burst.missing + stream.missing,
          cpuUsPerFrame: (burst.cpu * 1000) / burst.totals.deltas,
          p50: latency.p50,
          p99: latency.p99,
          max: latency.max,
          latencyFrames: latency.count,
        };
      };

      ctx.log(`  ${size.subscribers} subscribers; burst of ${size.events} chunks; paced ${size.rate}/s for ${size.seconds} s`);
      if (ctx.size !== 'tiny') for (const config of CONFIGS) await trial(config, { ...WARMUP, rate: size.rate });
      for (let rep = 0; rep < ctx.reps; rep++) {
        for (const config of rep % 2 === 0 ? CONFIGS : [...CONFIGS].reverse()) {
          const t = await trial(config, size);
          runs[config].push(t);
          ctx.log(
            `    rep ${rep + 1} ${CONFIG_LABELS[config].padEnd(22)} ${Math.round(t.framesPerSecond)} frames/s, ${t.cpuUsPerFrame.toFixed(1)} µs CPU/frame; paced p50 ${t.p50.toFixed(2)} ms, p99 ${t.p99.toFixed(2)} ms, max ${t.max.toFixed(1)} ms (${t.latencyFrames} frames)${t.missing ? `; ${t.missing} chunks missing` : ''}`,
          );
        }
      }
    } finally {
      await load?.stop();
      await rig?.stop();
    }

    const pick = (config: Config, key: keyof Trial) => runs[config].map((t) => t[key]);
    const hop = (label: string, unit: string, better: 'higher' | 'lower', key: keyof Trial) =>
      metric(`cluster vs one node: ${label}`, unit, better, pick('cluster', key), pick('one', key));
    const fsync = (label: string, unit: string, better: 'higher' | 'lower', key: keyof Trial) =>
      metric(`fsync always vs everysec (one node): ${label}`, unit, better, pick('always', key), pick('one', key));
    const who = `${size.subscribers} subscribers`;
    const metrics: Metric[] = [
      hop(`frames/s delivered, ${who}`, 'frames/s', 'higher', 'framesPerSecond'),
      hop(`p50 latency, ${size.rate}/s × ${who}`, 'ms', 'lower', 'p50'),
      hop(`p99 latency, ${size.rate}/s × ${who}`, 'ms', 'lower', 'p99'),
      hop('CPU per delivered frame (3 nodes + Redis)', 'µs', 'lower', 'cpuUsPerFrame'),
      fsync(`frames/s delivered, ${who}`, 'frames/s', 'higher', 'framesPerSecond'),
      fsync(`p50 latency, ${size.rate}/s × ${who}`, 'ms', 'lower', 'p50'),
      fsync(`p99 latency, ${size.rate}/s × ${who}`, 'ms', 'lower', 'p99'),
    ];
    const median = (config: Config, key: keyof Trial) => spread(pick(config, key)).median;
    const addedP99 = median('cluster', 'p99') - median('one', 'p99');
    const addedP50 = median('cluster', 'p50') - median('one', 'p50');
    const checks: Check[] = [
      {
        target: 'latency added by the hop (cluster − one node)',
        met: null,
        detail: `p50 ${addedP50 >= 0 ? '+' : ''}${addedP50.toFixed(2)} ms, p99 ${addedP99 >= 0 ? '+' : ''}${addedP99.toFixed(2)} ms`,
      },
      {
        target: 'throughput, cluster ÷ one node',
        met: null,
        detail: `${(median('cluster', 'framesPerSecond') / median('one', 'framesPerSecond')).toFixed(2)}×`,
      },
      {
        target: 'cost of appendfsync always (one node)',
        met: null,
        detail: `frames/s ${(median('always', 'framesPerSecond') / median('one', 'framesPerSecond')).toFixed(2)}×, p99 ${median('always', 'p99') - median('one', 'p99') >= 0 ? '+' : ''}${(median('always', 'p99') - median('one', 'p99')).toFixed(2)} ms`,
      },
      {
        target: 'every frame delivered once, in order, one complete per socket',
        met: gaps === 0 && dups === 0 && incomplete === 0 && lostFrames === 0 && protocolErrors === 0,
        detail: `${gaps} gaps, ${dups} duplicates, ${lostFrames} chunks missing, ${incomplete} sockets without exactly one complete, ${protocolErrors} protocol errors`,
      },
    ];
    return {
      id: cluster.id,
      title: cluster.title,
      baseline: 'one node (the gateway column: the cluster, or fsync always)',
      params: { ...size, burstBatch: BURST_BATCH, nodes: 3, redis: 'AOF on, everysec' },
      metrics,
      checks,
      notes: [
        'The "gateway" column is the cluster (run on A, subscribers on B and C) or Redis at appendfsync always; the baseline column is one node with everysec (run and subscribers on A). Latency: paced stream, from the agent\'s write to receipt.',
        ...(aofOnTmpfs ? ['The AOF was on tmpfs: fsync costs nothing there, so the always figure is not what a disk costs.'] : []),
      ],
      extra: { runs },
    };
  },
};
