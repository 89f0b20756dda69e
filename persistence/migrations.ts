/**
 * Schema migrations, applied when a database is opened. The version is SQLite's own
 * `PRAGMA user_version`: step N (1-based) brings a database from version N-1 to N inside one
 * IMMEDIATE transaction, so two processes opening the same file cannot both apply it, and a crash
 * mid-step leaves the previous version intact. Steps are append-only: never edit a shipped one.
 */
import type { Database } from 'better-sqlite3';

export const MIGRATIONS: readonly string[] = [
  // 1: sessions, runs and the chat event log.
  `
  CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    provider_session_id TEXT,
    project_path TEXT,
    summary TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX sessions_updated_at ON sessions (updated_at);

  CREATE TABLE runs (
    run_id TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed')),
    started_at INTEGER NOT NULL,
    completed_at INTEGER,
    exit_code INTEGER,
    aborted INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX runs_running ON runs (started_at) WHERE status = 'running';

  CREATE TABLE chat_events (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    json TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
  ) WITHOUT ROWID;

  CREATE TABLE chat_seq_marks (
    session_id TEXT PRIMARY KEY NOT NULL,
    latest_seq INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 2: sessions listed newest activity first, paged by (updated_at, session_id); a session's
  // activity includes its runs (the runs writer moves updated_at forward from now on, and this
  // brings existing rows up to their latest run); runs found by session for deletion.
  `
  UPDATE sessions SET updated_at = max(
    updated_at,
    coalesce(
      (SELECT max(max(started_at, coalesce(completed_at, 0))) FROM runs WHERE runs.session_id = sessions.session_id),
      0
    )
  );
  DROP INDEX sessions_updated_at;
  CREATE INDEX sessions_activity ON sessions (updated_at, session_id);
  CREATE INDEX runs_session ON runs (session_id);
  `,
  // 3: the chat log stores a chunk per session per write instead of a row per event
  // (eventChunk.ts). Each existing event becomes a one-event chunk, which needs no frame lengths.
  `
  CREATE TABLE chat_event_chunks (
    session_id TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    count INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    idx TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (session_id, first_seq)
  ) WITHOUT ROWID;
  INSERT INTO chat_event_chunks (session_id, first_seq, last_seq, count, bytes, idx, json)
    SELECT session_id, seq, seq, 1, length(CAST(json AS BLOB)),
      json_object('k', json_array(json_array(kind, 1)), 'r', json_array(json_array(run_id, 1)), 'a', json_array(json_array(at, 1))),
      json
    FROM chat_events ORDER BY session_id, seq;
  DROP TABLE chat_events;
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export class SchemaVersionError extends Error {
  readonly code = 'SCHEMA_TOO_NEW';
  constructor(readonly found: number, readonly known: number) {
    super(
      `Database schema version ${found} is newer than this gateway understands (${known}); ` +
        'upgrade the gateway or point it at another database file',
    );
    this.name = 'SchemaVersionError';
  }
}

function userVersion(sqlite: Database): number {
  return Number(sqlite.pragma('user_version', { simple: true }));
}

/** Brings the database to `SCHEMA_VERSION`; a no-op when it is already there. Returns the version. */
export function migrate(sqlite: Database): number {
  const initial = userVersion(sqlite);
  if (initial > SCHEMA_VERSION) throw new SchemaVersionError(initial, SCHEMA_VERSION);
  const applyNext = sqlite.transaction(() => {
    // Re-read under the write lock: another process may have migrated since we looked.
    const current = userVersion(sqlite);
    if (current > SCHEMA_VERSION) throw new SchemaVersionError(current, SCHEMA_VERSION);
    if (current === SCHEMA_VERSION) return current;
    sqlite.exec(MIGRATIONS[current]);
    sqlite.pragma(`user_version = ${current + 1}`);
    return current + 1;
  });
  let version = initial;
  while (version < SCHEMA_VERSION) version = applyNext.immediate();
  return version;
}
