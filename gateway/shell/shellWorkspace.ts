/**
 * Where a shell may start. The requested path is resolved through symlinks (realpath) before it
 * is compared with the allowed roots, so neither `..` segments nor a symlink pointing outside
 * can escape them; the resolved path is also what the session key uses.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';

export interface WorkspacePolicy {
  /** The resolved directory, or null when it is missing, not a directory, or outside every root. */
  resolve(requested: string): Promise<string | null>;
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
  const isInside = (dir: string, root: string): boolean =>
    dir === root || dir.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

  return {
    async resolve(requested) {
      let resolved: string;
      try {
        resolved = await realpath(path.resolve(requested));
        if (!(await stat(resolved)).isDirectory()) return null;
      } catch {
        return null;
      }
      if (roots.length === 0) return resolved;
      const allowed = await resolvedRoots();
      return allowed.some((root) => isInside(resolved, root)) ? resolved : null;
    },
  };
}
