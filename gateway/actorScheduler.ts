/**
 * XState's system scheduler, indexed by the actor that scheduled each event.
 *
 * Every actor that stops calls `system.scheduler.cancelAll(actor)`, and XState (5.33) answers it
 * by scanning every delayed event of the whole system. Every idle chat session holds one (its
 * idle TTL), so stopping N sessions cost O(N²): 10 240 sessions took 12.8 s to stop after the
 * root itself was made O(1) (`spec/actorSystemCost.spec.ts` counts the scans). With this index
 * `cancelAll` visits only the actor's own events. `schedule` and `cancel` keep XState's own
 * behaviour; they only record or forget the id.
 */
import type { AnyActorRef } from 'xstate';

type ActorSystem = AnyActorRef['system'];
type Scheduler = ActorSystem['scheduler'];

/** XState's own fallback for an event scheduled without an id. */
const freshId = () => Math.random().toString(36).slice(2);

export function indexSchedulerBySource(system: ActorSystem): void {
  const scheduler: Scheduler = system.scheduler;
  const { schedule, cancel } = scheduler;
  // Ids an actor scheduled and has not cancelled. Ids of events that already fired stay until
  // the actor stops; an actor schedules a handful of distinct ids (one per delayed transition).
  const idsBySource = new WeakMap<AnyActorRef, Set<string>>();

  scheduler.schedule = (source, target, event, delay, id = freshId()) => {
    schedule(source, target, event, delay, id);
    let ids = idsBySource.get(source);
    if (!ids) idsBySource.set(source, (ids = new Set()));
    ids.add(id);
  };
  scheduler.cancel = (source, id) => {
    cancel(source, id);
    idsBySource.get(source)?.delete(id);
  };
  scheduler.cancelAll = (source) => {
    const ids = idsBySource.get(source);
    if (!ids) return;
    idsBySource.delete(source);
    for (const id of ids) cancel(source, id);
  };
}
