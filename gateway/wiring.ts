import type { AnyActorLogic, CallbackActorLogic, PromiseActorLogic } from 'xstate';

import { chatRunMachine, type AbortInvocation, type RuntimeInvocation } from '../machines/chatRun.machine.js';
import { chatSessionMachine } from '../machines/chatSession.machine.js';
import type { GatewayChildKind } from '../machines/gatewayRoot.js';
import { pluginTunnelMachine } from '../machines/pluginTunnel.machine.js';
import type { ClientLegInput, LegCommand, PluginPortResult, UpstreamLegInput } from '../machines/pluginTunnel.types.js';
import { shellSessionMachine, type PtyCommand, type ShellLaunch } from '../machines/shellSession.machine.js';

/**
 * The wiring: the one module where machines get their implementations (`provide`). Each route
 * builds the effects its machine names (the chat route its runtime actors, the shell route its
 * PTY actor, the plugin route its two socket legs and port lookup); this gives them to the
 * machines, and `createWebSocketServer` starts the actor system with the result. A machine not
 * given its effects keeps its `notProvided` placeholders (a test harness that starts one route).
 */

export interface ChatEffects {
  runtime: PromiseActorLogic<unknown, RuntimeInvocation>;
  abortRuntime: PromiseActorLogic<boolean, AbortInvocation>;
}

export interface ShellEffects {
  pty: CallbackActorLogic<PtyCommand, ShellLaunch>;
}

export interface PluginEffects {
  clientLeg: CallbackActorLogic<LegCommand, ClientLegInput>;
  upstreamLeg: CallbackActorLogic<LegCommand, UpstreamLegInput>;
  resolvePluginPort: PromiseActorLogic<PluginPortResult, { name: string }>;
}

export interface GatewayEffects {
  chat?: ChatEffects;
  shell?: ShellEffects;
  plugin?: PluginEffects;
}

/** The gateway's three child machines, each provided with the effects it was given. */
export function wireMachines(effects: GatewayEffects): Record<GatewayChildKind, AnyActorLogic> {
  const chatRun = effects.chat ? chatRunMachine.provide({ actors: effects.chat }) : chatRunMachine;
  return {
    chatSession: chatSessionMachine.provide({ actors: { chatRun } }),
    shellSession: effects.shell ? shellSessionMachine.provide({ actors: effects.shell }) : shellSessionMachine,
    pluginTunnel: effects.plugin ? pluginTunnelMachine.provide({ actors: effects.plugin }) : pluginTunnelMachine,
  };
}
