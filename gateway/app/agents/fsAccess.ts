/**
 * `fs/read_text_file` and `fs/write_text_file`, confined to the session's project path. The agent
 * runs as the gateway's user and could open any file itself; what we confine is what the gateway
 * does on its behalf (and the files a client sees edited through us).
 *
 * Refused, with a JSON-RPC error the agent sees: a path with a `..` segment, a path that resolves
 * outside the project (absolute, or relative to the project), a symlink (the file or any directory
 * on the way) whose target is outside, a file over `maxReadFileBytes`.
 */
import { constants as fsConstants } from 'node:fs';
import { lstat, mkdir, open, realpath, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

import { RequestError } from '@agentclientprotocol/sdk';

/** JSON-RPC's "invalid params": the path is the problem, not the agent's call. */
const INVALID_PARAMS = -32602;
/** ACP's "resource not found". */
const RESOURCE_NOT_FOUND = -32002;

function refuse(message: string): RequestError {
  return new RequestError(INVALID_PARAMS, message);
}

function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** The nearest existing ancestor of `path` (itself when it exists) and its real path. */
async function realExistingAncestor(path: string): Promise<{ given: string; real: string }> {
  let current = path;
  for (;;) {
    try {
      return { given: current, real: await realpath(current) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const parent = dirname(current);
      if (parent === current) throw error;
      current = parent;
    }
  }
}

/**
 * The absolute path inside the project that `requested` names, or a RequestError. `root` is the
 * session's project path (made real here, so a project reached through a symlink still works).
 */
export async function confinePath(root: string, requested: unknown): Promise<string> {
  if (typeof requested !== 'string' || requested === '') throw refuse('path must be a non-empty string');
  if (requested.includes('\0')) throw refuse('path must not contain a NUL byte');
  if (requested.split(/[\\/]/).includes('..')) throw refuse(`path must not contain "..": ${requested}`);
  const realRoot = await realpath(root);
  const absolute = isAbsolute(requested) ? resolve(requested) : resolve(realRoot, requested);
  // The path as given must name something under the project (by its given or its real root).
  if (!isInside(resolve(root), absolute) && !isInside(realRoot, absolute)) {
    throw refuse(`path is outside the session's project (${root}): ${requested}`);
  }
  // Then every symlink on the way must stay inside too.
  const ancestor = await realExistingAncestor(absolute);
  if (!isInside(realRoot, ancestor.real)) throw refuse(`path leads outside the session's project through a symlink: ${requested}`);
  // The real path: the file itself when it exists, else its real directory plus the missing part.
  return resolve(ancestor.real, relative(ancestor.given, absolute));
}

export interface ReadTextFileParams {
  path: string;
  line?: number | null;
  limit?: number | null;
}

export async function readTextFileConfined(root: string, params: ReadTextFileParams, maxReadFileBytes: number): Promise<{ content: string }> {
  const path = await confinePath(root, params.path);
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new RequestError(RESOURCE_NOT_FOUND, `file not found: ${params.path}`);
    throw error;
  }
  if (!info.isFile()) throw refuse(`not a regular file: ${params.path}`);
  if (info.size > maxReadFileBytes) throw refuse(`file is larger than ${maxReadFileBytes} bytes (maxReadFileBytes): ${params.path}`);
  // O_NOFOLLOW on the last component closes the swap-to-symlink race between the check and the open.
  const handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  let text: string;
  try {
    text = await handle.readFile({ encoding: 'utf8' });
  } finally {
    await handle.close();
  }
  const line = typeof params.line === 'number' && params.line > 1 ? Math.floor(params.line) : 1;
  const limit = typeof params.limit === 'number' && params.limit >= 0 ? Math.floor(params.limit) : null;
  if (line === 1 && limit === null) return { content: text };
  const lines = text.split('\n');
  const slice = lines.slice(line - 1, limit === null ? undefined : line - 1 + limit);
  return { content: slice.join('\n') };
}

export async function writeTextFileConfined(root: string, params: { path: string; content: string }): Promise<Record<string, never>> {
  if (typeof params.content !== 'string') throw refuse('content must be a string');
  const path = await confinePath(root, params.path);
  try {
    const info = await lstat(path);
    if (info.isDirectory()) throw refuse(`is a directory: ${params.path}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(path), { recursive: true });
  // Re-check the directory after mkdir: nothing may have been swapped in for a symlink meanwhile.
  const parentReal = await realpath(dirname(path));
  if (!isInside(await realpath(root), parentReal)) throw refuse(`path leads outside the session's project: ${params.path}`);
  await writeFile(path, params.content, { encoding: 'utf8', flag: fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW });
  return {};
}
