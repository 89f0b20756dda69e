/**
 * `agent-gateway/acp`: the ACP client runtime for hosts that embed the gateway. Give it the agents
 * to run and pass it (alone, or with your own runtimes through `createCompositeRuntime`) as
 * `chat.runtime`; call `close()` when the gateway closes, to stop the agent processes.
 */
export { createAcpRuntime, type AcpRuntime, type AcpRuntimeOptions } from './acpRuntime.js';
export { ACP_LIMITS, type AcpLimits } from './acpLimits.js';
export { createCompositeRuntime, type CompositeRuntime, type RoutedRuntime } from './compositeRuntime.js';
export { parseAgentEntry, parseAgentsEnv, parseAgentsFile, splitCommandLine, describeCommand, type AgentSpec } from './agentSpecs.js';
export { chooseOutcome, type PendingAcpPermission, type PermissionChoice, type PermissionOutcome } from './permissions.js';
export { createUpdateMapper, type UpdateMapper, type DiffContent } from './updateMapping.js';
