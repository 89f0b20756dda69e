/**
 * The standalone server's data dir holds the token and the SQLite files (every chat event): only
 * the gateway's OS user may enter it. With `--shell-user` this is what keeps a terminal out of
 * them; without it a terminal runs as the gateway's user and these modes do not stop it.
 * A looser dir or file (made by hand, by an older version, by a wide umask) is tightened, not
 * refused, as the token file is (token.ts).
 */
import fs from 'node:fs';
import path from 'node:path';

/** Owner only: nobody else lists, reads or creates anything in the data dir. */
export const DATA_DIR_MODE = 0o700;
/** Owner read/write only. SQLite gives a new -wal/-shm file the mode of its database file. */
export const DATA_FILE_MODE = 0o600;

const GROUP_OR_OTHER = 0o077;

/** Creates the dir (and its parents) if needed, owner only; tightens an existing looser one. */
export function securePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
  if ((fs.statSync(dir).mode & GROUP_OR_OTHER) !== 0) fs.chmodSync(dir, DATA_DIR_MODE);
}

/**
 * Tightens each of these files in `dir` that exists and others could read. Returns the ones it
 * could not tighten (an immutable or foreign-owned file): the caller warns, it does not refuse to
 * start, since the dir's own mode already keeps other users out.
 */
export function securePrivateFiles(dir: string, names: readonly string[]): Array<{ file: string; error: string }> {
  const failed: Array<{ file: string; error: string }> = [];
  for (const name of names) {
    const file = path.join(dir, name);
    let mode: number;
    try {
      mode = fs.statSync(file).mode;
    } catch {
      continue;
    }
    if ((mode & GROUP_OR_OTHER) === 0) continue;
    try {
      fs.chmodSync(file, DATA_FILE_MODE);
    } catch (error) {
      failed.push({ file: name, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return failed;
}
