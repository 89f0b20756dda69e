/**
 * Opens the gateway's SQLite file: one better-sqlite3 connection, tuned for a write-heavy log
 * (WAL, synchronous=NORMAL), migrated to the current schema, wrapped in drizzle. Every other
 * `persistence/` module takes the returned handle; nothing outside `persistence/` touches SQLite.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import Sqlite from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';

import { migrate } from './migrations.js';
import { schema } from './schema.js';
import type { GatewaySchema } from './schema.js';
import type { PersistenceLogger } from './types.js';
import { startWalCheckpointer, type WalCheckpointer } from './walCheckpointer.js';

/** How long a statement waits for another process's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;
/**
 * WAL pages between automatic checkpoints (16 MiB at 4 KiB pages; SQLite's default is 1000).
 * Each checkpoint copies pages into the main file and fsyncs; at a token stream's write rate the
 * default checkpoints several times a second and costs ~15-30% of append throughput.
 */
const WAL_AUTOCHECKPOINT_PAGES = 4000;
/** Caps the WAL file left behind after checkpoints, so a burst does not keep disk forever. */
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

export type GatewayDrizzle = BetterSQLite3Database<GatewaySchema>;

export interface GatewayDatabase {
  /** Typed queries. */
  readonly db: GatewayDrizzle;
  /** The raw connection, for the few statements drizzle cannot express. */
  readonly sqlite: SqliteDatabase;
  /** The file path as given (`:memory:` for an in-memory database). */
  readonly path: string;
  /** Called by the event log after each committed batch (the checkpoint thread's safety bound). */
  afterCommit(): void;
  /** Closes the connection; safe to call twice. */
  close(): void;
  /**
   * Resolves once everything `close()` let go of has finished with the file (the checkpoint
   * thread's last checkpoint and its connection); at once without one.
   */
  closed(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /**
   * `worker`: checkpoints run on a thread of their own (`walCheckpointer.ts`), never on the event
   * loop; for the connection that writes the chat log. Default `auto`: SQLite's own, every
   * `WAL_AUTOCHECKPOINT_PAGES` (a connection with few writes: the REST routes', a host's store).
   */
  checkpoints?: 'auto' | 'worker';
  logger?: PersistenceLogger;
}

function isMemoryPath(path: string): boolean {
  return path === ':memory:' || path === '';
}

export function openDatabase(path: string, options: OpenDatabaseOptions = {}): GatewayDatabase {
  if (!isMemoryPath(path)) mkdirSync(dirname(resolve(path)), { recursive: true });
  const sqlite = new Sqlite(path);
  try {
    sqlite.pragma('journal_mode = WAL');
    // WAL + NORMAL: a power loss may lose the last commits but never corrupts; the log's
    // contract already allows losing the batch in flight.
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    sqlite.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    sqlite.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
    migrate(sqlite);
  } catch (error) {
    sqlite.close();
    throw error;
  }
  const db = drizzle({ client: sqlite, schema });
  const checkpointer: WalCheckpointer | null =
    options.checkpoints === 'worker' && !isMemoryPath(path)
      ? startWalCheckpointer({ sqlite, path: resolve(path), fallbackAutocheckpointPages: WAL_AUTOCHECKPOINT_PAGES, busyTimeoutMs: BUSY_TIMEOUT_MS, logger: options.logger })
      : null;
  let stopping: Promise<void> | null = null;
  return {
    db,
    sqlite,
    path,
    afterCommit: () => checkpointer?.afterCommit(),
    close() {
      stopping ??= checkpointer?.stop() ?? Promise.resolve();
      if (sqlite.open) sqlite.close();
    },
    closed: () => stopping ?? Promise.resolve(),
  };
}
