/**
 * The drizzle view of the gateway's SQLite tables, used to build typed queries. The DDL that
 * actually creates them lives in `migrations.ts` (kept in code so no drizzle-kit runs at start-up);
 * `spec/persistence.migrations.spec.ts` checks the two agree column for column.
 */
import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** App sessions: the gateway's source of the provider and project of a session. */
export const sessions = sqliteTable(
  'sessions',
  {
    sessionId: text('session_id').primaryKey(),
    provider: text('provider').notNull(),
    providerSessionId: text('provider_session_id'),
    projectPath: text('project_path'),
    summary: text('summary'),
    /** Epoch milliseconds. */
    createdAt: integer('created_at').notNull(),
    /**
     * Epoch milliseconds; bumped by every change, and by its runs starting and completing
     * (runsTable.ts), so `lastActivity` and the listing order mean something.
     */
    updatedAt: integer('updated_at').notNull(),
  },
  // The listing order and its cursor: newest activity first, ties by id (migration 2).
  (table) => [index('sessions_activity').on(table.updatedAt, table.sessionId)],
);

/** Chat runs, so a restart can complete the runs a crash interrupted. */
export const runs = sqliteTable(
  'runs',
  {
    runId: text('run_id').primaryKey(),
    sessionId: text('session_id').notNull(),
    provider: text('provider').notNull(),
    status: text('status', { enum: ['running', 'completed'] }).notNull(),
    startedAt: integer('started_at').notNull(),
    completedAt: integer('completed_at'),
    exitCode: integer('exit_code'),
    aborted: integer('aborted', { mode: 'boolean' }).notNull().default(false),
  },
  // Only unfinished runs are ever looked up by status, and there are few of them. By session:
  // deleting a session's runs (migration 2).
  (table) => [
    index('runs_running').on(table.startedAt).where(sql`status = 'running'`),
    index('runs_session').on(table.sessionId),
  ],
);

/**
 * The durable chat event log, one row per chunk: a session's consecutive events written in one
 * batch (`eventChunk.ts` has the format and why). The primary key is the read order, so replay
 * and pruning are range scans. WITHOUT ROWID (migration 3): the key is stored once, so a write of
 * a one-event chunk (a paced stream: one per event-loop turn) touches one B-tree, not a table and
 * its index: `bench/hotPath.ts 30000 10 1` 176 -> 148 µs per event; bursts (tens of KiB per chunk,
 * spilling to overflow pages either way) measured the same.
 */
export const chatEventChunks = sqliteTable(
  'chat_event_chunks',
  {
    sessionId: text('session_id').notNull(),
    firstSeq: integer('first_seq').notNull(),
    lastSeq: integer('last_seq').notNull(),
    /** Events in the chunk: `last_seq - first_seq + 1`. */
    count: integer('count').notNull(),
    /** UTF-8 bytes of the events' frames, what `maxBytesPerSession` bounds. */
    bytes: integer('bytes').notNull(),
    index: text('idx').notNull(),
    json: text('json').notNull(),
  },
  (table) => [primaryKey({ columns: [table.sessionId, table.firstSeq] })],
);

/**
 * Per-session seq high-water marks, written only when events were accepted but never stored
 * (dropped while the disk failed): without it `latestSeq` would go backwards after a restart
 * and clients that saw those events would ignore the reused seqs.
 */
export const chatSeqMarks = sqliteTable('chat_seq_marks', {
  sessionId: text('session_id').primaryKey(),
  latestSeq: integer('latest_seq').notNull(),
});

export const schema = { sessions, runs, chatEventChunks, chatSeqMarks };
export type GatewaySchema = typeof schema;
