/**
 * Run leases and run records on Redis (`RunLeases`). A session's run record (`run:{sid}`) says
 * which run is unfinished; its lease (`lease:{sid}`, a token with a PX expiry) says that a node is
 * alive running it. Acquire, take-over, release and the pending write are one script each
 * (`scripts.ts`); the append script deletes both when the run's `complete` is written.
 *
 * Every lease this node holds is renewed every third of `leaseMs` (one pipeline for all). A
 * renewal that finds another token (or none) means the lease is gone: `onLeaseLost` at once.
 * While renewals fail (Redis unreachable) the lease is given up locally `leaseMs` after the last
 * successful renewal was sent, which is no later than Redis itself expires it, so another node
 * can never take over a run this node still believes it holds.
 */
import { randomUUID } from 'node:crypto';

import type { Redis } from 'ioredis';

import type { AcquireResult, RunLeaseHooks, RunLeases, RunRecordShape, StoredApproval } from '../cluster/types.js';
import type { PersistenceLogger } from '../types.js';
import type { RedisKeys } from './keys.js';
import type { ConnectionStatus } from './redisConnections.js';
import { hashFields } from './replies.js';
import type { RedisScripts, ScriptName } from './scripts.js';

/** Approvals one run record stores at most (each is a tool request waiting for an answer). */
export const MAX_STORED_APPROVALS = 1_000;

export interface RunLeasesParts {
  command: Redis;
  scripts: RedisScripts;
  keys: RedisKeys;
  status: ConnectionStatus;
}

export interface RunLeasesOptions {
  nodeId: string;
  leaseMs: number;
  logger?: PersistenceLogger;
}

interface HeldLease {
  runId: string;
  token: string;
  /** Gives the lease up when no renewal succeeded for the lease time. */
  deadline: NodeJS.Timeout;
}

function parseApprovals(text: string | undefined): StoredApproval[] {
  if (text === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  const approvals: StoredApproval[] = [];
  for (const item of parsed as unknown[]) {
    if (item === null || typeof item !== 'object') continue;
    const { requestId, runId, toolName, input } = item as Record<string, unknown>;
    if (typeof requestId !== 'string' || typeof runId !== 'string') continue;
    approvals.push({ requestId, runId, toolName, input });
  }
  return approvals;
}

function toRecord(sessionId: string, fields: Record<string, string>, leaseAlive: boolean): RunRecordShape | null {
  if (fields.runId === undefined) return null;
  return {
    sessionId,
    runId: fields.runId,
    nodeId: fields.nodeId ?? '',
    provider: fields.provider ?? '',
    startedAt: Number(fields.startedAt ?? 0) || 0,
    firstSeq: Number(fields.firstSeq ?? 0) || 0,
    pendingPermissions: parseApprovals(fields.pending),
    leaseAlive,
  };
}

function requireString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${name} must be a non-empty string`);
  return value;
}

export class RedisRunLeases implements RunLeases {
  readonly leaseMs: number;
  private hooks: RunLeaseHooks = { onLeaseLost: () => undefined };
  private readonly held = new Map<string, HeldLease>();
  private readonly renewTimer: NodeJS.Timeout;
  private renewing = false;
  private closed = false;

  constructor(
    private readonly parts: RunLeasesParts,
    private readonly options: RunLeasesOptions,
  ) {
    this.leaseMs = options.leaseMs;
    this.renewTimer = setInterval(() => this.renewAll(), Math.max(1, Math.floor(this.leaseMs / 3)));
    this.renewTimer.unref();
  }

  setHooks(hooks: RunLeaseHooks): void {
    this.hooks = hooks;
  }

  async acquire(sessionId: string, run: { runId: string; provider: string; startedAt: number }): Promise<AcquireResult> {
    this.assertOpen();
    requireString('sessionId', sessionId);
    requireString('runId', run.runId);
    if (typeof run.provider !== 'string') throw new TypeError('provider must be a string');
    if (!Number.isFinite(run.startedAt)) throw new TypeError('startedAt must be a finite number');
    const { keys } = this.parts;
    const { nodeId } = this.options;
    const token = randomUUID();
    const sentAt = Date.now();
    const reply = await this.script(
      'agAcquire',
      [keys.run(sessionId), keys.lease(sessionId), keys.meta(sessionId), keys.runs, keys.sessions, keys.session(sessionId)],
      [sessionId, run.runId, nodeId, run.provider, String(Math.trunc(run.startedAt)), token, this.leaseMs],
    );
    const [outcome, detail, alive] = Array.isArray(reply) ? (reply as unknown[]) : [];
    if (outcome === 'acquired') {
      this.hold(sessionId, run.runId, token, sentAt);
      return { outcome: 'acquired', token, latestSeq: Number(detail) || 0 };
    }
    const holder = outcome === 'held' ? toRecord(sessionId, hashFields(detail), Number(alive) === 1) : null;
    if (holder === null) throw new Error(`Unexpected reply of the acquire script: ${JSON.stringify(reply)}`);
    return { outcome: 'held', holder };
  }

  async takeOver(sessionId: string, runId: string): Promise<{ token: string; latestSeq: number } | null> {
    this.assertOpen();
    requireString('sessionId', sessionId);
    requireString('runId', runId);
    const { keys } = this.parts;
    const token = randomUUID();
    const sentAt = Date.now();
    const reply = await this.script(
      'agTakeOver',
      [keys.run(sessionId), keys.lease(sessionId), keys.meta(sessionId)],
      [runId, token, this.leaseMs, this.options.nodeId],
    );
    if (reply === null || reply === undefined) return null;
    this.hold(sessionId, runId, token, sentAt);
    return { token, latestSeq: Number(reply) || 0 };
  }

  tokenOf(sessionId: string): string | null {
    return this.held.get(sessionId)?.token ?? null;
  }

  async release(sessionId: string): Promise<void> {
    const lease = this.held.get(sessionId);
    if (lease === undefined) return;
    this.forget(sessionId);
    const { keys } = this.parts;
    await this.script('agRelease', [keys.run(sessionId), keys.lease(sessionId), keys.runs], [lease.token, sessionId]);
  }

  ended(sessionId: string): void {
    this.forget(sessionId);
  }

  /** The log wrote the run's `complete` (which deleted its record and lease in Redis). */
  completedByLog(sessionId: string, runId: string): void {
    if (this.held.get(sessionId)?.runId === runId) this.forget(sessionId);
  }

  async setPending(sessionId: string, pending: readonly StoredApproval[]): Promise<void> {
    const lease = this.held.get(sessionId);
    if (lease === undefined) return;
    if (pending.length > MAX_STORED_APPROVALS) {
      throw new RangeError(`A run record stores at most ${MAX_STORED_APPROVALS} approvals, got ${pending.length}`);
    }
    const json = JSON.stringify(pending.map(({ requestId, runId, toolName, input }) => ({ requestId, runId, toolName, input })));
    const { keys } = this.parts;
    // A refusal (not our lease any more) changes nothing here: the renewal reports the loss.
    await this.script('agSetPending', [keys.lease(sessionId), keys.run(sessionId)], [lease.token, json]);
  }

  async get(sessionId: string): Promise<RunRecordShape | null> {
    const [record] = await this.readRecords([sessionId]);
    return record ?? null;
  }

  async list(): Promise<RunRecordShape[]> {
    const members = await this.call(() => this.parts.command.smembers(this.parts.keys.runs));
    const records = await this.readRecords(members);
    return records.filter((record): record is RunRecordShape => record !== null);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.renewTimer);
    for (const sessionId of [...this.held.keys()]) this.forget(sessionId);
  }

  // ---- internals ----

  private assertOpen(): void {
    if (this.closed) throw new Error('The run leases are closed');
  }

  private async readRecords(sessionIds: readonly string[]): Promise<Array<RunRecordShape | null>> {
    if (sessionIds.length === 0) return [];
    const { command, keys } = this.parts;
    const pipeline = command.pipeline();
    for (const sessionId of sessionIds) pipeline.hgetall(keys.run(sessionId)).exists(keys.lease(sessionId));
    const results = await this.call(() => pipeline.exec());
    return sessionIds.map((sessionId, i) => {
      const [recordError, record] = results?.[2 * i] ?? [new Error('no reply'), null];
      const [aliveError, alive] = results?.[2 * i + 1] ?? [new Error('no reply'), null];
      if (recordError) throw recordError;
      if (aliveError) throw aliveError;
      return toRecord(sessionId, hashFields(record), Number(alive) === 1);
    });
  }

  private hold(sessionId: string, runId: string, token: string, sentAt: number): void {
    this.forget(sessionId);
    const lease: HeldLease = { runId, token, deadline: this.deadline(sessionId, runId, sentAt) };
    this.held.set(sessionId, lease);
  }

  private deadline(sessionId: string, runId: string, sentAt: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const lease = this.held.get(sessionId);
      if (lease === undefined || lease.runId !== runId) return;
      this.lose(sessionId, lease, 'no renewal succeeded within the lease time');
    }, Math.max(0, sentAt + this.leaseMs - Date.now()));
    timer.unref();
    return timer;
  }

  private forget(sessionId: string): void {
    const lease = this.held.get(sessionId);
    if (lease === undefined) return;
    clearTimeout(lease.deadline);
    this.held.delete(sessionId);
  }

  private lose(sessionId: string, lease: HeldLease, reason: string): void {
    if (this.held.get(sessionId) !== lease) return;
    this.forget(sessionId);
    this.options.logger?.warn('Run lease lost', { sessionId, runId: lease.runId, reason });
    try {
      this.hooks.onLeaseLost(sessionId, lease.runId);
    } catch (error) {
      this.options.logger?.error('onLeaseLost threw', { sessionId, error: this.parts.status.describe(error) });
    }
  }

  private renewAll(): void {
    if (this.renewing || this.closed || this.held.size === 0) return;
    const leases = [...this.held];
    const sentAt = Date.now();
    const { command, keys, scripts, status } = this.parts;
    const pipeline = command.pipeline();
    for (const [sessionId, lease] of leases) scripts.queue(pipeline, 'agRenew', [keys.lease(sessionId)], [lease.token, this.leaseMs]);
    this.renewing = true;
    pipeline
      .exec()
      .then(
        (results) => {
          let failure: unknown = null;
          leases.forEach(([sessionId, lease], i) => {
            if (this.held.get(sessionId) !== lease) return;
            const [error, reply] = results?.[i] ?? [new Error('no reply'), null];
            if (error) failure = error;
            else if (Number(reply) === 1) {
              clearTimeout(lease.deadline);
              lease.deadline = this.deadline(sessionId, lease.runId, sentAt);
            } else this.lose(sessionId, lease, 'the lease is not this node\'s any more');
          });
          if (failure !== null) status.noteFailure(failure);
          else status.noteSuccess();
        },
        (error: unknown) => status.noteFailure(error),
      )
      .finally(() => {
        this.renewing = false;
      });
  }

  private script(name: ScriptName, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    return this.call(() => this.parts.scripts.run(name, keys, args));
  }

  private call<T>(run: () => Promise<T>): Promise<T> {
    return this.parts.status.track(run);
  }
}
