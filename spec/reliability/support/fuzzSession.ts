/**
 * One route's fuzz from start to verdict, shared by the npm-test slice (fuzz.spec.ts) and the
 * full run (fuzz.run.ts): a fresh gateway, a warm-up, the retained-memory baseline, the fuzz,
 * then the gateway's own bounds must reap everything and memory must come back near baseline.
 */
import { connect, createScriptedRuntime, type ScriptedRuntime } from '../../support/chatHarness.js';
import type { RouteFuzzStats } from './fuzzEngine.js';
import { MiB, removeDir, retainedBytes, startReliabilityGateway, waitUntil, type ReliabilityGateway } from './gateway.js';

/** Memory the process may keep after a route's fuzz once its sockets, sessions and PTYs are gone. */
export const RETAINED_SLACK_BYTES = 12 * MiB;

/** No rate limit (its own test is in security.spec.ts) and short reaping times, so "memory back to baseline" need not wait 5 minutes. */
export const FUZZ_LIMITS = {
  rateLimitPerSecond: 0,
  sessionIdleTtlMs: 300,
  shellDetachTimeoutMs: 200,
  shellKillGraceMs: 300,
};

export interface RouteVerdict extends RouteFuzzStats {
  retainedBytes: number;
  health: string;
}

export async function fuzzOneRoute(
  run: (gw: ReliabilityGateway, runtime: ScriptedRuntime) => Promise<RouteFuzzStats>,
): Promise<RouteVerdict> {
  const runtime = createScriptedRuntime();
  const gw = await startReliabilityGateway({ runtime, limits: FUZZ_LIMITS });
  try {
    // Warm up (module code, JIT, SQLite statements) before the baseline is taken.
    const warm = await connect(gw.h.url);
    warm.send({ type: 'chat.subscribe', sessions: [{ sessionId: 'warm' }] });
    await warm.waitFor((f) => f.kind === 'chat_subscribed');
    await warm.close();
    const baseline = retainedBytes();
    const stats = await run(gw, runtime);
    await waitUntil(() => gw.h.gateway.clients.size === 0, 'every socket to be gone', 10_000);
    await waitUntil(
      () => gw.h.gateway.listActors().chat.length <= 1 && gw.h.gateway.listActors().shell.length === 0,
      'sessions and PTYs reaped',
      15_000,
    );
    return { ...stats, retainedBytes: retainedBytes() - baseline, health: gw.h.gateway.health().status };
  } finally {
    await gw.close();
    removeDir(gw.h.dir);
  }
}

export function describeVerdict(v: RouteVerdict): string {
  return (
    `${v.route}: ${v.frames} frames in ${v.batches} batches, ${v.replies} answers, closes ${JSON.stringify(v.closes)}, ` +
    `${(v.ms / 1000).toFixed(1)} s, retained ${(v.retainedBytes / MiB).toFixed(2)} MiB, health ${v.health}`
  );
}
