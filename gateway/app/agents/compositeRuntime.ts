/**
 * Several runtimes behind one `ProviderRuntime`: each provider goes to the runtime that has it
 * (the first one listed wins a name two runtimes share). The standalone server puts the demo agent
 * and the ACP agents behind it; approvals are answered by whichever runtime holds the request.
 */
import type { PermissionDecision, ProviderRuntime } from '../../types.js';

export type RoutedRuntime = ProviderRuntime & { readonly providers: string[]; close?(): Promise<void> };

export type CompositeRuntime = ProviderRuntime & { readonly providers: string[]; close(): Promise<void> };

export function createCompositeRuntime(runtimes: RoutedRuntime[]): CompositeRuntime {
  const owner = (provider: string): RoutedRuntime | undefined => runtimes.find((runtime) => runtime.hasRuntime(provider));
  const providers = [...new Set(runtimes.flatMap((runtime) => runtime.providers))];
  return {
    providers,

    hasRuntime: (provider: string) => owner(provider) !== undefined,

    run(provider, command, options, writer) {
      const runtime = owner(provider);
      if (!runtime) return Promise.reject(new Error(`No runtime for provider "${provider}"`));
      return runtime.run(provider, command, options, writer);
    },

    async abort(provider, sessionId) {
      const runtime = owner(provider);
      return runtime ? runtime.abort(provider, sessionId) : false;
    },

    resolveToolApproval(requestId: string, decision: PermissionDecision): void {
      // Request ids are random UUIDs: only the runtime that issued one acts on it.
      for (const runtime of runtimes) runtime.resolveToolApproval(requestId, decision);
    },

    getPendingApprovalsForSession(sessionId: string): unknown[] {
      return runtimes.flatMap((runtime) => {
        const listed = runtime.getPendingApprovalsForSession(sessionId);
        return Array.isArray(listed) ? listed : [];
      });
    },

    async close() {
      await Promise.all(runtimes.map((runtime) => runtime.close?.()));
    },
  };
}
