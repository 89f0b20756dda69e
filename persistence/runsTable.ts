/**
 * The `runs` table: a row per chat run, so a restart can complete the runs a crash interrupted.
 * Writes go through `DeferredWrites` (at once, or queued in order while the database fails).
 *
 * A run starting or completing is activity of its session: the same write moves the session's
 * `updated_at` forward (never back), so listing sessions by activity is one index scan of
 * `sessions` instead of a join over every run. With no `sessions` row (a host with its own
 * session store) that update matches nothing.
 */
import { asc, eq, inArray, sql } from 'drizzle-orm';

import type { GatewayDatabase } from './database.js';
import type { DeferredWrites } from './deferredWrites.js';
import { runs, sessions } from './schema.js';
import type { RunRecord } from './types.js';

export interface RunResult {
  exitCode: number;
  aborted: boolean;
  completedAt: number;
}

export class RunsTable {
  private readonly selectUnfinished;
  // Built once while the connection is open: a transaction function made later, on a connection
  // closed underneath, would throw out of runStarted instead of degrading the log.
  private readonly writeStarted: (run: RunRecord) => void;
  private readonly writeCompleted: (runId: string, result: RunResult) => void;

  constructor(
    private readonly database: GatewayDatabase,
    private readonly deferred: DeferredWrites,
  ) {
    const { db, sqlite } = database;
    this.selectUnfinished = db
      .select({ runId: runs.runId, sessionId: runs.sessionId, provider: runs.provider, startedAt: runs.startedAt })
      .from(runs)
      .where(eq(runs.status, 'running'))
      .orderBy(asc(runs.startedAt))
      .prepare();
    // Runs are rare: their queries are built per call rather than prepared.
    this.writeStarted = sqlite.transaction((run: RunRecord) => {
      const { runId, sessionId, provider, startedAt } = run;
      db.insert(runs).values({ runId, sessionId, provider, startedAt, status: 'running', aborted: false }).onConflictDoNothing().run();
      db.update(sessions)
        .set({ updatedAt: sql`max(${sessions.updatedAt}, ${startedAt})` })
        .where(eq(sessions.sessionId, sessionId))
        .run();
    });
    this.writeCompleted = sqlite.transaction((runId: string, result: RunResult) => {
      const { exitCode, aborted, completedAt } = result;
      db.update(runs).set({ status: 'completed', completedAt, exitCode, aborted }).where(eq(runs.runId, runId)).run();
      const runSession = db.select({ sessionId: runs.sessionId }).from(runs).where(eq(runs.runId, runId));
      db.update(sessions)
        .set({ updatedAt: sql`max(${sessions.updatedAt}, ${completedAt})` })
        .where(inArray(sessions.sessionId, runSession))
        .run();
    });
  }

  started(run: RunRecord): void {
    const row: RunRecord = { runId: run.runId, sessionId: run.sessionId, provider: run.provider, startedAt: run.startedAt };
    this.deferred.run(() => this.writeStarted(row));
  }

  completed(runId: string, result: RunResult): void {
    const { exitCode, aborted, completedAt } = result;
    this.deferred.run(() => this.writeCompleted(runId, { exitCode, aborted, completedAt }));
  }

  /** Runs recorded as started and never completed (a crash interrupted them), oldest first. */
  unfinished(): RunRecord[] {
    return this.selectUnfinished.all();
  }

  /** Deletes every run of a session (it is being forgotten). */
  deleteSession(sessionId: string): void {
    this.database.db.delete(runs).where(eq(runs.sessionId, sessionId)).run();
  }
}
