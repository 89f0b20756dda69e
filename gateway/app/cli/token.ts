/**
 * The standalone server's shared secret. GATEWAY_TOKEN wins; otherwise a random token is created on
 * first start and kept in `<dataDir>/token`, readable by the owner only, so restarts keep clients
 * logged in. The token is never logged: callers print it once, on purpose, at startup.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const TOKEN_FILE_NAME = 'token';
/** 256 bits: guessing is hopeless, and base64url keeps it copy-pasteable into a URL. */
const TOKEN_BYTES = 32;
const TOKEN_FILE_MODE = 0o600;
const DATA_DIR_MODE = 0o700;

export interface LoadedToken {
  token: string;
  /** `env`: GATEWAY_TOKEN; `file`: read from the token file; `created`: generated and written now. */
  source: 'env' | 'file' | 'created';
  /** The token file, or null when the token came from the environment. */
  path: string | null;
}

function readTokenFile(file: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const token = text.trim();
  return token === '' ? null : token;
}

export function loadOrCreateToken(dataDir: string, envToken: string | undefined): LoadedToken {
  const fromEnv = envToken?.trim();
  if (fromEnv) return { token: fromEnv, source: 'env', path: null };

  fs.mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  const file = path.join(dataDir, TOKEN_FILE_NAME);

  const existing = readTokenFile(file);
  if (existing !== null) {
    // A token file others can read is a leaked token; tighten it rather than refuse to start.
    if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, TOKEN_FILE_MODE);
    return { token: existing, source: 'file', path: file };
  }

  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  // Written under a temporary name, then hard-linked into place: a crash never leaves a half-written
  // token, the file has its final mode from the first byte, and of two servers starting together
  // the second finds the first one's token (EEXIST) instead of overwriting it.
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(temporary, `${token}\n`, { mode: TOKEN_FILE_MODE, flag: 'wx' });
  try {
    fs.linkSync(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const winner = readTokenFile(file);
    if (winner !== null) return { token: winner, source: 'file', path: file };
    // An empty token file (truncated by hand) is replaced.
    fs.renameSync(temporary, file);
  } finally {
    fs.rmSync(temporary, { force: true });
  }
  return { token, source: 'created', path: file };
}
