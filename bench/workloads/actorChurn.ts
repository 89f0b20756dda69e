/**
 * Actor churn: N chat session actors spawned under the gateway's root, then stopped, in process.
 * The gateway's root (machines/gatewayRoot.ts, children in a Map, scheduler indexed by actor)
 * against the textbook XState v5 root the gateway had before: a state machine that spawns with
 * `assign`/`spawn` and releases with `stopChild`, on XState's own scheduler. Same child logic
 * (the real chat session machine, whose idle state holds a timer), same N. Issue 13: with N live
 * sessions every spawn and stop of the textbook root costs O(N), so a flood of made-up session
 * ids froze the event loop for ~30 s.
 */
import { assign, createActor, setup, stopChild, type AnyActorLogic } from 'xstate';

import { createActorHost } from '../../gateway/actorHost.js';
import { chatSessionMachine, type ChatSessionInput } from '../../machines/chatSession.machine.js';
import { interleave, metric, type BenchContext, type Workload } from '../lib/workload.js';

const SIZES = { full: 5000, quick: 2000, tiny: 300 } as const;

const sessionInput = (id: string): ChatSessionInput => ({
  sessionId: id,
  latestSeq: 1,
  limits: { sessionIdleTtlMs: 3_600_000, lockedSessionTimeoutMs: 3_600_000, abortTimeoutMs: 30_000, shutdownAbortGraceMs: 2000, clientMessageIdWindowMs: 600_000 },
});

/** The root as a state machine, as the gateway had it and as XState's docs spawn children. */
const machineRoot = setup({
  types: { events: {} as { type: 'spawn'; id: string } | { type: 'stop'; id: string } },
  actors: { chatSession: chatSessionMachine as AnyActorLogic },
}).createMachine({
  on: {
    spawn: {
      actions: assign(({ event, spawn }) => {
        spawn('chatSession', { id: event.id, systemId: event.id, input: sessionInput(event.id) as never });
        return {};
      }),
    },
    stop: { actions: stopChild(({ event }) => event.id) },
  },
});

interface ChurnResult {
  spawnMs: number;
  stopMs: number;
}

function churnGateway(n: number): ChurnResult {
  const host = createActorHost();
  host.start({ chatSession: chatSessionMachine, shellSession: chatSessionMachine, pluginTunnel: chatSessionMachine });
  const started = performance.now();
  for (let i = 0; i < n; i++) host.spawn('chatSession', `chat:${i}`, sessionInput(String(i)));
  const spawned = performance.now();
  for (let i = 0; i < n; i++) host.stop(`chat:${i}`);
  const stopped = performance.now();
  host.shutdown();
  return { spawnMs: spawned - started, stopMs: stopped - spawned };
}

function churnMachineRoot(n: number): ChurnResult {
  const root = createActor(machineRoot).start();
  const started = performance.now();
  for (let i = 0; i < n; i++) root.send({ type: 'spawn', id: `chat:${i}` });
  const spawned = performance.now();
  for (let i = 0; i < n; i++) root.send({ type: 'stop', id: `chat:${i}` });
  const stopped = performance.now();
  root.stop();
  return { spawnMs: spawned - started, stopMs: stopped - spawned };
}

export const actorChurn: Workload = {
  id: 'actors',
  title: 'Actor churn',
  summary: 'µs per chat session actor spawned and stopped with N live, vs a state-machine root on XState’s scheduler',
  async run(ctx: BenchContext) {
    const n = SIZES[ctx.size];
    ctx.log(`  ${n} sessions spawned, then stopped`);
    const runs = await interleave(
      Math.max(ctx.reps, 3),
      async (side) => (side === 'gateway' ? churnGateway(n) : churnMachineRoot(n)),
      { warmup: true, log: ctx.log, describe: (_s, v) => `spawn ${v.spawnMs.toFixed(0)} ms, stop ${v.stopMs.toFixed(0)} ms` },
    );
    const perActor = (r: ChurnResult) => ((r.spawnMs + r.stopMs) * 1000) / n;
    const churn = metric(`spawn + stop, ${n} sessions`, 'µs/actor', 'lower', runs.gateway.map(perActor), runs.baseline.map(perActor));
    // Linear cost: a tenth of the sessions costs about the same per actor.
    const small = interleaveSmall(Math.ceil(n / 10));
    const growth = churn.gateway.median / small;
    return {
      id: actorChurn.id,
      title: actorChurn.title,
      baseline: 'an XState state-machine root (assign/spawn, stopChild) on XState’s own scheduler, same child machine',
      params: { sessions: n },
      metrics: [
        churn,
        metric(`spawn, ${n} sessions`, 'ms', 'lower', runs.gateway.map((r) => r.spawnMs), runs.baseline.map((r) => r.spawnMs)),
        metric(`stop, ${n} sessions`, 'ms', 'lower', runs.gateway.map((r) => r.stopMs), runs.baseline.map((r) => r.stopMs)),
      ],
      checks: [
        {
          target: `per-actor cost with ${n} live ≤ 2× with ${Math.ceil(n / 10)} (O(N) in total)`,
          met: growth <= 2,
          detail: `${churn.gateway.median.toFixed(1)} vs ${small.toFixed(1)} µs/actor (${growth.toFixed(2)}×)`,
        },
      ],
      notes: [],
    };
  },
};

/** The gateway's per-actor cost at a tenth of the size (median of 3). */
function interleaveSmall(n: number): number {
  const costs = [0, 1, 2].map(() => {
    const r = churnGateway(n);
    return ((r.spawnMs + r.stopMs) * 1000) / n;
  });
  return costs.sort((a, b) => a - b)[1];
}
