/**
 * The `/shell` wire codec: client frames become typed requests (validated once, here), server
 * frames are JSON text. Booleans count only when they are real booleans; numbers only when finite.
 */
import type { RawData } from 'ws';

import { SHELL_ERRORS } from '../../machines/protocolCodes.js';
import { errorLine } from '../../machines/shellSession.machine.js';

export const DEFAULT_COLS = 80;
export const DEFAULT_ROWS = 24;
/** [ours] PTY dimensions are clamped to this range (baseline passes any number to node-pty). */
export const MIN_DIMENSION = 1;
export const MAX_DIMENSION = 1000;

export interface ShellInitRequest {
  /** As sent (for the welcome line); the current directory when absent or empty. */
  projectPath: string;
  sessionId: string | null;
  hasSession: boolean;
  provider: string;
  initialCommand: string;
  isPlainShell: boolean;
  forceRestart: boolean;
  /** Clamped; undefined when the client sent no number. */
  cols: number | undefined;
  rows: number | undefined;
}

export type ShellClientFrame =
  | { type: 'init'; request: ShellInitRequest }
  | { type: 'input'; data: string }
  | { type: 'resize'; cols: number; rows: number }
  /** A JSON object with an unknown `type`: ignored (protocol). */
  | { type: 'ignored' }
  /** Not JSON, not an object, or no string `type`. */
  | { type: 'invalid' };

const readString = (value: unknown): string => (typeof value === 'string' ? value : '');
const readBoolean = (value: unknown): boolean => value === true;
const readNumber = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

export function clampDimension(value: number): number {
  return Math.min(MAX_DIMENSION, Math.max(MIN_DIMENSION, Math.floor(value)));
}

const dimension = (value: unknown): number | undefined => {
  const n = readNumber(value);
  return n === undefined ? undefined : clampDimension(n);
};

function readInit(message: Record<string, unknown>): ShellInitRequest {
  const initialCommand = readString(message.initialCommand);
  const hasSession = readBoolean(message.hasSession);
  const provider = readString(message.provider) || 'claude';
  return {
    projectPath: readString(message.projectPath) || process.cwd(),
    sessionId: readString(message.sessionId) || null,
    hasSession,
    provider,
    initialCommand,
    isPlainShell:
      readBoolean(message.isPlainShell) || (initialCommand !== '' && !hasSession) || provider === 'plain-shell',
    forceRestart: readBoolean(message.forceRestart),
    cols: dimension(message.cols),
    rows: dimension(message.rows),
  };
}

function decode(raw: RawData | string): string {
  if (typeof raw === 'string') return raw;
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return Buffer.isBuffer(raw) ? raw.toString('utf8') : Buffer.from(raw).toString('utf8');
}

export function parseShellFrame(raw: RawData | string): ShellClientFrame {
  let message: unknown;
  try {
    message = JSON.parse(decode(raw));
  } catch {
    return { type: 'invalid' };
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return { type: 'invalid' };
  const record = message as Record<string, unknown>;
  switch (record.type) {
    case 'init':
      return { type: 'init', request: readInit(record) };
    case 'input':
      return { type: 'input', data: readString(record.data) };
    case 'resize':
      return {
        type: 'resize',
        cols: dimension(record.cols) ?? DEFAULT_COLS,
        rows: dimension(record.rows) ?? DEFAULT_ROWS,
      };
    default:
      return typeof record.type === 'string' ? { type: 'ignored' } : { type: 'invalid' };
  }
}

export const errorFrame = (message: string): string => JSON.stringify({ type: 'error', message });
/**
 * [cluster] The key's PTY lives on node `nodeId`: the error frame baseline clients show as text,
 * with a code and the node for clients (or a proxy) that route the socket there.
 */
export const otherNodeFrame = (nodeId: string): string =>
  JSON.stringify({ type: 'error', message: `${SHELL_ERRORS.SHELL_ON_OTHER_NODE}: ${nodeId}`, code: 'SHELL_ON_OTHER_NODE', nodeId });
export const outputFrame = (data: string): string => JSON.stringify({ type: 'output', data });
/** Baseline's answer to a frame it cannot parse: a red line in the terminal, socket kept open. */
export const invalidPayloadFrame = (): string => outputFrame(errorLine('Invalid websocket payload'));
