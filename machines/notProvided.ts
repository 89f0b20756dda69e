import type { AnyActorLogic } from 'xstate';

/**
 * A placeholder for an actor a machine names in `setup({ actors })` but the gateway supplies
 * with `provide()`. Starting it fails at once with `<machine>: the "<name>" actor was not
 * provided`, so a machine wired without its adapter stops loudly instead of waiting forever.
 *
 * The placeholder's initial snapshot throws, which XState turns into an errored child: the parent
 * gets `xstate.error.actor.<id>` carrying that error. It works for any kind of logic (callback,
 * promise, machine), which is why the type parameter is the logic the real actor will have.
 *
 * Usage: `pty: notProvided<CallbackActorLogic<PtyCommand, ShellLaunch>>('shellSession.machine', 'pty')`.
 */
export function notProvided<TLogic extends AnyActorLogic>(machine: string, name: string): TLogic {
  const fail = (): never => {
    throw new Error(`${machine}: the "${name}" actor was not provided`);
  };
  const placeholder = { config: undefined, transition: fail, getInitialSnapshot: fail, getPersistedSnapshot: fail };
  // The placeholder never produces a snapshot, so it satisfies every logic type in practice.
  return placeholder as unknown as TLogic;
}
