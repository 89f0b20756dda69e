/**
 * The live agent processes: at most one per app session, at most `maxAgentProcesses` in all,
 * each stopped after `idleStopMs` without a run. At the bound the least recently used idle one is
 * stopped to make room (its session loads again on its next run); when all are busy, `acquire`
 * refuses with an AgentFailure the run reports.
 */
import type { Logger } from '../../logger.js';
import type { SpawnPty } from '../../shell/ptyProcesses.js';
import type { AcpLimits } from './acpLimits.js';
import { AgentConnection, AgentFailure } from './agentConnection.js';
import type { AgentSpec } from './agentSpecs.js';

export interface AgentPoolOptions {
  limits: AcpLimits;
  logger: Logger;
  terminals: boolean;
  spawnPty?: SpawnPty;
  baseEnv?: NodeJS.ProcessEnv;
}

export interface LiveAgentSummary {
  appSessionId: string;
  agent: string;
  busy: boolean;
}

export class AgentPool {
  private readonly live = new Map<string, AgentConnection>();
  private readonly idleTimers = new Map<AgentConnection, ReturnType<typeof setTimeout>>();

  constructor(private readonly options: AgentPoolOptions) {}

  /** The session's live connection, or a new process for it. Marks it busy. */
  acquire(appSessionId: string, spec: AgentSpec, projectPath: string): AgentConnection {
    const existing = this.live.get(appSessionId);
    if (existing && existing.isAlive() && existing.spec === spec && existing.projectPath === projectPath) {
      this.clearIdle(existing);
      existing.busy = true;
      return existing;
    }
    if (existing) void this.discard(existing);
    if (this.live.size >= this.options.limits.maxAgentProcesses) {
      const idle = [...this.live.values()].filter((connection) => !connection.busy).sort((a, b) => a.lastUsedAt - b.lastUsedAt)[0];
      if (!idle) {
        throw new AgentFailure(
          `Too many agent processes are busy (${this.options.limits.maxAgentProcesses}, maxAgentProcesses); try again when a run has finished.`,
        );
      }
      this.options.logger.info('Stopping the least recently used idle agent to make room', { appSessionId: idle.appSessionId, agent: idle.spec.name });
      void this.discard(idle);
    }
    const connection = new AgentConnection({
      spec,
      appSessionId,
      projectPath,
      logger: this.options.logger,
      limits: this.options.limits,
      terminals: this.options.terminals,
      ...(this.options.spawnPty ? { spawnPty: this.options.spawnPty } : {}),
      ...(this.options.baseEnv ? { baseEnv: this.options.baseEnv } : {}),
    });
    connection.busy = true;
    this.live.set(appSessionId, connection);
    void connection.ended.then(() => {
      this.clearIdle(connection);
      if (this.live.get(appSessionId) === connection) this.live.delete(appSessionId);
    });
    return connection;
  }

  /** The run is over: the process waits for the next run, until `idleStopMs`. */
  release(connection: AgentConnection): void {
    connection.busy = false;
    connection.lastUsedAt = Date.now();
    if (!connection.isAlive() || this.live.get(connection.appSessionId) !== connection) return;
    this.clearIdle(connection);
    const timer = setTimeout(() => {
      this.options.logger.info('Stopping an idle agent process', { appSessionId: connection.appSessionId, agent: connection.spec.name });
      void this.discard(connection);
    }, this.options.limits.idleStopMs);
    // An idle agent must not keep the gateway's process alive.
    timer.unref();
    this.idleTimers.set(connection, timer);
  }

  discard(connection: AgentConnection): Promise<void> {
    this.clearIdle(connection);
    if (this.live.get(connection.appSessionId) === connection) this.live.delete(connection.appSessionId);
    return connection.close();
  }

  list(): LiveAgentSummary[] {
    return [...this.live.values()].map((connection) => ({ appSessionId: connection.appSessionId, agent: connection.spec.name, busy: connection.busy }));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.live.values()].map((connection) => this.discard(connection)));
  }

  private clearIdle(connection: AgentConnection): void {
    const timer = this.idleTimers.get(connection);
    if (timer !== undefined) clearTimeout(timer);
    this.idleTimers.delete(connection);
  }
}
