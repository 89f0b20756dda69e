/** Memory of the server process itself, measured from inside it. */
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

import { sleep } from '../lib/clock.js';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

import { nowUs } from '../lib/clock.js';
import type { CpuSample, LoopDelay, MemorySample, RelayServerApi, RssWatch } from './relayApi.js';

const gc = (globalThis as { gc?: () => void }).gc;

/** Settled memory: full GCs with pauses in between so finalizers and freed pages settle. */
export async function settledMemory(): Promise<MemorySample> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await sleep(50);
  }
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  const spaces: MemorySample['spaces'] = {};
  for (const space of getHeapSpaceStatistics()) {
    spaces[space.space_name] = { size: space.space_size, used: space.space_used_size };
  }
  return { rss, heapUsed, heapTotal, external, arrayBuffers, spaces };
}

export function createRssWatcher() {
  let timer: NodeJS.Timeout | null = null;
  let watch: RssWatch = { startRss: 0, maxRss: 0, samples: 0 };
  return {
    start(intervalMs: number) {
      if (timer) clearInterval(timer);
      const rss = process.memoryUsage.rss();
      watch = { startRss: rss, maxRss: rss, samples: 1 };
      timer = setInterval(() => {
        const current = process.memoryUsage.rss();
        if (current > watch.maxRss) watch.maxRss = current;
        watch.samples++;
      }, intervalMs);
    },
    stop(): RssWatch {
      if (timer) clearInterval(timer);
      timer = null;
      const current = process.memoryUsage.rss();
      if (current > watch.maxRss) watch.maxRss = current;
      return watch;
    },
  };
}

export function cpuSample(): CpuSample {
  const { user, system } = process.cpuUsage();
  return { cpuUs: user + system, atUs: nowUs() };
}

export function heapSnapshot(path: string): string {
  gc?.();
  return writeHeapSnapshot(path);
}

/** Event-loop delay while a trial runs: a stall here is latency for every frame behind it. */
export function createLoopWatcher() {
  let histogram: IntervalHistogram | null = null;
  return {
    start() {
      histogram?.disable();
      histogram = monitorEventLoopDelay({ resolution: 1 });
      histogram.enable();
    },
    stop(): LoopDelay {
      if (!histogram) return { p50Ms: Number.NaN, p99Ms: Number.NaN, maxMs: Number.NaN };
      histogram.disable();
      const result = { p50Ms: histogram.percentile(50) / 1e6, p99Ms: histogram.percentile(99) / 1e6, maxMs: histogram.max / 1e6 };
      histogram = null;
      return result;
    },
  };
}

/** The measuring half of a bench server's API: the same for the gateway and the bare relay. */
export function createStatsApi(): Pick<
  RelayServerApi,
  'memory' | 'cpu' | 'heapSnapshot' | 'watchRss' | 'stopWatchRss' | 'watchLoop' | 'stopWatchLoop'
> {
  const rss = createRssWatcher();
  const loop = createLoopWatcher();
  return {
    memory: () => settledMemory(),
    cpu: () => cpuSample(),
    heapSnapshot: ({ path }) => heapSnapshot(path),
    watchRss({ intervalMs }) {
      rss.start(intervalMs);
      return null;
    },
    stopWatchRss: () => rss.stop(),
    watchLoop() {
      loop.start();
      return null;
    },
    stopWatchLoop: () => loop.stop(),
  };
}
