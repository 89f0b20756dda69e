import { fromPromise, type AnyActorRef } from 'xstate';

import type { AbortInvocation, RuntimeInvocation } from '../../machines/chatRun.machine.js';
import type { Logger } from '../logger.js';
import type { ChatDeps, ProviderRuntime } from '../types.js';
import { createRuntimeWriter } from './runtimeWriter.js';

/**
 * The run machine's two effects, on the host's `ProviderRuntime`: `runtime` runs one agent turn
 * (streaming through a writer into the run actor), `abortRuntime` asks it to stop. The wiring
 * module provides them to `chatRun.machine.ts`.
 */

export interface RuntimeActorsOptions {
  runtime: ProviderRuntime;
  /** The host's say over what reaches a runtime (`ChatDeps.prepareRun`). */
  prepareRun?: ChatDeps['prepareRun'];
  logger: Logger;
}

export function createRuntimeActors(options: RuntimeActorsOptions) {
  const { runtime, logger } = options;

  /**
   * The options a runtime gets: what the host's `prepareRun` allows of the client's (nothing
   * without it), then `sessionId`, `projectPath` and `cwd` from the session row, which always win.
   */
  const runtimeOptions = async (input: RuntimeInvocation): Promise<Record<string, unknown>> => {
    const allowed = options.prepareRun
      ? await options.prepareRun({
          provider: input.provider,
          sessionId: input.sessionId,
          projectPath: input.projectPath,
          providerSessionId: input.providerSessionId,
          content: input.content,
          clientOptions: input.options,
          userId: input.userId,
        })
      : {};
    const where = input.projectPath ?? undefined;
    return { ...allowed, sessionId: input.sessionId, projectPath: where, cwd: where };
  };

  return {
    runtime: fromPromise<unknown, RuntimeInvocation>(async ({ input, system }) => {
      const writer = createRuntimeWriter({
        runActor: () => system.get(`chat-run:${input.runId}`) as AnyActorRef | undefined,
        sessionActor: () => system.get(`chat:${input.sessionId}`) as AnyActorRef | undefined,
        userId: input.userId,
        providerSessionId: input.providerSessionId,
        logger,
        runId: input.runId,
      });
      return runtime.run(input.provider, input.content, await runtimeOptions(input), writer);
    }),
    abortRuntime: fromPromise<boolean, AbortInvocation>(async ({ input }) => (await runtime.abort(input.provider, input.sessionId)) === true),
  };
}

export type RuntimeActors = ReturnType<typeof createRuntimeActors>;
