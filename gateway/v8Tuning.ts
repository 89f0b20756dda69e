/**
 * The one V8 setting the gateway runs best with, applied at run time (`v8.setFlagsFromString`).
 *
 * V8's allocation-site pretenuring watches which object literals survive a scavenge and, past a
 * survival ratio, allocates that literal's objects straight in the old generation. On the
 * gateway's per-event path it gets this wrong: some literals an event allocates (the XState action
 * lists of a transition, the frames of an emit, the session's message events) are judged
 * long-lived and moved to old space, where each, dead after its turn, still points at the young
 * objects it was built with until the next full collection. Every scavenge then copies those too
 * and promotes them: ~1 MiB per scavenge instead of ~25 KiB, 4–5 ms pauses instead of ~1 ms, and
 * about twice the CPU per event in the session path (`bench/hotPath.ts`, 0 subscribers, log off,
 * `--trace-gc-nvp`). It feeds itself (the young objects a tenured site's dead objects keep alive
 * survive, so their sites are tenured too), and whether a process falls into it depends on when
 * scavenges happen to land: without the setting the same gateway ran at one cost or about twice it
 * from one start to the next. With it, what stays long-lived (the replay tail) is simply promoted
 * when it survives, as any object is. BENCHMARKS.md ("latency") has the measurement.
 *
 * The standalone gateway applies it first thing (`gateway/app/cli.ts`); an embedding host may
 * call `tuneV8ForGateway()` at start, or run node with the same flags. It changes a heuristic of
 * the whole process, never behaviour, which is why the library does not do it on its own.
 */
import { setFlagsFromString } from 'node:v8';

/** The flags, as `node` takes them on its command line. */
export const GATEWAY_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/** Applies `GATEWAY_V8_FLAGS` to this process; best done before the gateway starts. */
export function tuneV8ForGateway(): void {
  for (const flag of GATEWAY_V8_FLAGS) setFlagsFromString(flag);
}
