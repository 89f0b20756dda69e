/**
 * The identity of a persistent PTY. Baseline keys on `projectPath_sessionId` plus the first 12
 * bytes of a plain shell's command; we key on the resolved path and a digest of the whole
 * command, and add the owner (two users never share a PTY) and, for agent shells, the provider.
 * The key is JSON so no combination of path and id characters can collide with another.
 */
import { createHash } from 'node:crypto';

export interface ShellKeyParts {
  ownerId: string;
  resolvedPath: string;
  sessionId: string | null;
  /** Plain shells: the command as sent. Agent shells: null. */
  plainCommand: string | null;
  /** Agent shells only. */
  provider: string | null;
}

export function commandDigest(command: string): string {
  return createHash('sha256').update(command).digest('hex').slice(0, 32);
}

export function shellSessionKey(parts: ShellKeyParts): string {
  return JSON.stringify([
    parts.ownerId,
    parts.resolvedPath,
    parts.sessionId ?? 'default',
    parts.plainCommand ? `cmd:${commandDigest(parts.plainCommand)}` : parts.provider ?? '',
  ]);
}

export const shellActorId = (key: string): string => `shell:${key}`;
