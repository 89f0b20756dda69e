import { openDatabase } from './database.js';
import { createSqliteSessionStore } from './sessionStore.js';
import type { SqliteSessionStore, SqliteSessionStoreOptions } from './sessionStoreApi.js';

/**
 * The default session store on its own connection to a database file: what an embedder uses to
 * create, list and delete the sessions a gateway keeps in `databasePath` (WAL lets this
 * connection and the gateway's share the file). Its type names no drizzle or SQLite type, so it
 * is part of the package's public API.
 */
export interface SessionStoreFile extends SqliteSessionStore {
  /** Closes this connection (the gateway's own is closed by its `close()`). */
  close(): void;
}

export function openSessionStore(databasePath: string, options: SqliteSessionStoreOptions = {}): SessionStoreFile {
  const database = openDatabase(databasePath);
  const store = createSqliteSessionStore(database, options);
  return Object.assign(store, { close: () => database.close() });
}
