/**
 * Where a shell may start and a session may point: the workspace roots. The requested path is
 * resolved through symlinks (realpath) before it is compared with the roots (resolved the same
 * way), so neither `..` segments nor a symlink pointing outside can escape them; the resolved
 * path is also what the shell's session key uses.
 *
 * Each refusal has its own code (machines/protocolCodes.ts, PROJECT_PATH_ERRORS), the same on
 * `/shell` (its `error` frame) and on the standalone server's `POST /api/providers/sessions`
 * (a `400 { error, code }`).
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';

import { PROJECT_PATH_ERRORS, SHELL_ERRORS } from '../../machines/protocolCodes.js';

/** The refusals a workspace check can give (PROJECT_PATH_TOO_LONG is the REST body parser's). */
export type WorkspaceErrorCode = Exclude<keyof typeof PROJECT_PATH_ERRORS, 'PROJECT_PATH_TOO_LONG'>;

export type WorkspaceCheck =
  | { ok: true; /** realpath of the directory */ path: string }
  | { ok: false; code: WorkspaceErrorCode; error: string };

export interface WorkspaceCheckOptions {
  /** Refuse a relative path (PROJECT_PATH_NOT_ABSOLUTE) instead of resolving it against the gateway's directory. */
  requireAbsolute?: boolean;
}

export interface WorkspacePolicy {
  /** The roots as configured (empty: any directory). */
  readonly roots: readonly string[];
  /** Resolves and checks a requested directory; a refusal says which of the causes it was. */
  check(requested: string, options?: WorkspaceCheckOptions): Promise<WorkspaceCheck>;
  /** The resolved directory, or null when `check` refuses it. */
  resolve(requested: string): Promise<string | null>;
}

function refuse(code: WorkspaceErrorCode): WorkspaceCheck {
  return { ok: false, code, error: PROJECT_PATH_ERRORS[code] };
}

/** `dir` is `root` or below it (both already resolved); `/a/bc` is not below `/a/b`. */
export function isInsideRoot(dir: string, root: string): boolean {
  return dir === root || dir.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/**
 * Resolves configured roots for start-up: each must be an existing directory. Throws an Error
 * naming the first that is not, so a mistyped root fails the start instead of admitting nothing.
 */
export async function resolveWorkspaceRoots(roots: readonly string[], optionName: string): Promise<string[]> {
  const out: string[] = [];
  for (const root of roots) {
    let resolved: string;
    try {
      resolved = await realpath(path.resolve(root));
    } catch {
      throw new Error(`${optionName} "${root}" does not exist`);
    }
    if (!(await stat(resolved)).isDirectory()) throw new Error(`${optionName} "${root}" is not a directory`);
    if (!out.includes(resolved)) out.push(resolved);
  }
  return out;
}

/** The realpath of the deepest ancestor of `absolute` that exists (at worst the file system root). */
async function realAncestor(absolute: string): Promise<string> {
  let current = absolute;
  for (;;) {
    const parent = path.dirname(current);
    if (parent === current) return current;
    current = parent;
    try {
      return await realpath(current);
    } catch {
      // Missing too (or unreadable): one level up.
    }
  }
}

export function createWorkspacePolicy(allowedRoots: readonly string[] | undefined): WorkspacePolicy {
  const roots = (allowedRoots ?? []).filter((root) => root.trim() !== '');
  // Roots are resolved lazily (and again on each check) so a root created after start-up still works.
  const resolvedRoots = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const root of roots) {
      try {
        out.push(await realpath(path.resolve(root)));
      } catch {
        // A missing root admits nothing.
      }
    }
    return out;
  };

  async function check(requested: string, options: WorkspaceCheckOptions = {}): Promise<WorkspaceCheck> {
    if (options.requireAbsolute && !path.isAbsolute(requested)) return refuse('PROJECT_PATH_NOT_ABSOLUTE');
    const absolute = path.resolve(requested);
    let resolved: string | null;
    try {
      resolved = await realpath(absolute);
    } catch {
      resolved = null;
    }
    // Where it is comes first: outside the roots, neither "missing" nor "not a directory" is said,
    // so the check tells nothing about what exists outside them. A missing path is placed by its
    // deepest existing ancestor.
    if (roots.length > 0) {
      const allowed = await resolvedRoots();
      const place = resolved ?? (await realAncestor(absolute));
      if (!allowed.some((root) => isInsideRoot(place, root))) return refuse('PROJECT_PATH_OUTSIDE_WORKSPACE');
    }
    if (resolved === null) return refuse('PROJECT_PATH_NOT_FOUND');
    try {
      if (!(await stat(resolved)).isDirectory()) return refuse('PROJECT_PATH_NOT_DIRECTORY');
    } catch {
      return refuse('PROJECT_PATH_NOT_FOUND');
    }
    return { ok: true, path: resolved };
  }

  return {
    roots,
    check,
    async resolve(requested) {
      const result = await check(requested);
      return result.ok ? result.path : null;
    },
  };
}

/**
 * The `/shell` `error` frame for a refused path: baseline's exact message (clients show it and
 * may match it), and [ours] the cause as a `code` a program can tell apart.
 */
export function workspaceErrorFrame(refusal: { code: WorkspaceErrorCode }): string {
  return JSON.stringify({ type: 'error', message: SHELL_ERRORS.INVALID_PROJECT_PATH, code: refusal.code });
}
