/**
 * What a new PTY runs and the line that introduces it (PROTOCOL.md §3, "Commands").
 * Agent shells resume the provider's own session id, looked up server-side; a client never
 * supplies it, and an id outside the safe pattern is never put on a command line.
 */
import type { Logger } from '../logger.js';
import type { ShellDeps } from '../types.js';
import type { SessionStore } from '../../persistence/types.js';
import type { ShellInitRequest } from './shellFrames.js';

export const SAFE_SESSION_ID = /^[a-zA-Z0-9_.\-:]+$/;

/** An `initialCommand` containing one of these replaces the PTY at its key with a fresh one. */
const LOGIN_MARKERS = ['setup-token', 'auth login', 'cursor-agent login', '/login', 'codex login'];

/** A plain shell with no command gets an interactive shell rather than `bash -c ''`, which exits at once. */
export const DEFAULT_PLAIN_COMMAND = 'bash';

const PROVIDER_NAMES: Record<string, string> = { cursor: 'Cursor', codex: 'Codex', opencode: 'OpenCode' };
const providerName = (provider: string): string => PROVIDER_NAMES[provider] ?? 'Claude';

const cyanLine = (text: string): string => `\x1b[36m${text}\x1b[0m\r\n`;

export function isLoginCommand(initialCommand: string): boolean {
  return initialCommand !== '' && LOGIN_MARKERS.some((marker) => initialCommand.includes(marker));
}

export interface LaunchPlan {
  command: string;
  welcome: string;
}

/** `resumeId` is the provider-native id, already checked against SAFE_SESSION_ID, or null. */
export function planLaunch(request: ShellInitRequest, resumeId: string | null): LaunchPlan {
  const where = request.projectPath;
  if (request.isPlainShell) {
    return { command: request.initialCommand || DEFAULT_PLAIN_COMMAND, welcome: cyanLine(`Starting terminal in: ${where}`) };
  }
  const name = providerName(request.provider);
  const welcome = resumeId
    ? cyanLine(`Resuming ${name} session ${resumeId} in: ${where}`)
    : cyanLine(`Starting new ${name} session in: ${where}`);
  switch (request.provider) {
    case 'cursor':
      return { command: resumeId ? `cursor-agent --resume="${resumeId}"` : 'cursor-agent', welcome };
    case 'codex':
      return { command: resumeId ? `codex resume "${resumeId}" || codex` : 'codex', welcome };
    case 'opencode':
      return { command: resumeId ? `opencode --session "${resumeId}"` : request.initialCommand || 'opencode', welcome };
    default:
      return { command: resumeId ? `claude --resume "${resumeId}" || claude` : request.initialCommand || 'claude', welcome };
  }
}

export interface ResumeSources {
  shell?: ShellDeps;
  sessions?: SessionStore;
  logger: Logger;
}

/**
 * The provider session id to resume, or null: the host's resolver if it has one, else the
 * session store; with neither, the app session id itself (baseline: they are the same id).
 */
export async function resolveResumeId(request: ShellInitRequest, sources: ResumeSources): Promise<string | null> {
  if (request.isPlainShell || !request.hasSession || !request.sessionId) return null;
  const { sessionId, provider } = request;
  let resumeId: string | null | undefined;
  try {
    if (sources.shell?.resolveProviderSessionId) {
      resumeId = await sources.shell.resolveProviderSessionId(sessionId, provider);
    } else if (sources.sessions) {
      resumeId = (await sources.sessions.getSession(sessionId))?.providerSessionId;
    } else {
      resumeId = sessionId;
    }
  } catch (error) {
    sources.logger.warn('shell: resolving the provider session id failed; starting without resume', {
      sessionId,
      error: error instanceof Error ? error.message : String(error),
    });
    return null;
  }
  return typeof resumeId === 'string' && SAFE_SESSION_ID.test(resumeId) ? resumeId : null;
}
