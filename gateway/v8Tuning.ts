/**
 * The V8 settings the gateway runs best with. Two, and they are applied differently.
 *
 * `--no-allocation-site-pretenuring`, applied at run time (`v8.setFlagsFromString`).
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
 * `--no-memory-reducer`, only on node's command line (set at run time it changed nothing, tried;
 * V8 seems to read it only as it sets the heap up). When a process has been idle for some seconds
 * after a mark-compact, the memory reducer runs a garbage collection that gives memory back: the
 * old generation is compacted (~25 → 13.5 MiB here) and the young generation shrinks to its 1 MiB
 * minimum (32 MiB after a burst; `v8.getHeapSpaceStatistics()` read before each burst). The next
 * burst then pays for growing both again. A gateway idles between bursts, so it paid that on
 * every burst: 1.8–2.5× the CPU per event of the same burst run back to back
 * (BENCHMARKS.md, "The gateway after idle time"). The price of the flag: an idle gateway keeps the
 * heap of its last burst until the next ordinary collection (~30–40 MiB more RSS after a burst to
 * 100 subscribers, measured beside it), bounded by V8's usual heap limits.
 *
 * The standalone gateway has both (`npm start` puts them on node's command line; the CLI also
 * applies the run-time one first thing, for `node dist/cli.js` started by hand, and says in its
 * banner when the command-line one is missing). An embedding host runs node with
 * `GATEWAY_V8_FLAGS`, or calls `tuneV8ForGateway()` at start for the run-time one alone. They
 * change heuristics of the whole process, never behaviour, which is why the library does not set
 * them on its own.
 */
import { setFlagsFromString } from 'node:v8';

/** Flags V8 reads as it goes: `tuneV8ForGateway()` sets them in a running process. */
const RUN_TIME_FLAGS = ['--no-allocation-site-pretenuring'] as const;

/** Flags V8 reads once, as the process starts: only node's command line sets them. */
const COMMAND_LINE_ONLY_FLAGS = ['--no-memory-reducer'] as const;

/** Every flag, as `node` takes them on its command line (`node ${flags} server.js`). */
export const GATEWAY_V8_FLAGS: readonly string[] = [...RUN_TIME_FLAGS, ...COMMAND_LINE_ONLY_FLAGS];

/** Applies the flags that take effect at run time; best done before the gateway starts. */
export function tuneV8ForGateway(): void {
  for (const flag of RUN_TIME_FLAGS) setFlagsFromString(flag);
}

/** The flags this process lacks that only node's command line could have given it. */
export function v8FlagsMissingFromCommandLine(execArgv: readonly string[] = process.execArgv): string[] {
  return COMMAND_LINE_ONLY_FLAGS.filter((flag) => !execArgv.includes(flag));
}
