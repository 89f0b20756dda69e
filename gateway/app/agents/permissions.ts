/**
 * Pending `session/request_permission`s of every ACP run, by our request id, and how a
 * `chat.permission-response` picks the agent's option:
 *   - `optionId` (a string naming one of the request's options) picks that option;
 *   - else `allow: true` picks the one-time allow option (`allow_once`, else `allow_always`);
 *   - else the one-time reject option (`reject_once`, else `reject_always`);
 *   - an agent that offered no such option gets `cancelled`.
 */
import type { PermissionDecision } from '../../types.js';

export interface PermissionChoice {
  optionId: string;
  name: string;
  kind: string;
}

export type PermissionOutcome = { outcome: 'cancelled' } | { outcome: 'selected'; optionId: string };

export interface PendingAcpPermission {
  requestId: string;
  /** The app session id. */
  sessionId: string;
  /** The ACP session id (clients may ask with either). */
  providerSessionId: string | null;
  toolName: string;
  toolId: string | null;
  input: unknown;
  options: PermissionChoice[];
}

interface Entry extends PendingAcpPermission {
  settle(outcome: PermissionOutcome): void;
}

/** The options of a request as the agent sent them, keeping only well-formed ones. */
export function readPermissionOptions(raw: unknown): PermissionChoice[] {
  if (!Array.isArray(raw)) return [];
  const options: PermissionChoice[] = [];
  for (const item of raw) {
    if (typeof item !== 'object' || item === null) continue;
    const { optionId, name, kind } = item as Record<string, unknown>;
    if (typeof optionId !== 'string') continue;
    options.push({ optionId, name: typeof name === 'string' ? name : optionId, kind: typeof kind === 'string' ? kind : 'other' });
  }
  return options;
}

export function chooseOutcome(options: PermissionChoice[], decision: PermissionDecision): PermissionOutcome {
  // Checked against the request's own options: a client may name anything.
  const requested: unknown = decision.optionId;
  if (typeof requested === 'string' && options.some((option) => option.optionId === requested)) {
    return { outcome: 'selected', optionId: requested };
  }
  const kinds = decision.allow === true ? ['allow_once', 'allow_always'] : ['reject_once', 'reject_always'];
  for (const kind of kinds) {
    const option = options.find((candidate) => candidate.kind === kind);
    if (option) return { outcome: 'selected', optionId: option.optionId };
  }
  return { outcome: 'cancelled' };
}

export class PermissionRegistry {
  private readonly entries = new Map<string, Entry>();

  add(pending: PendingAcpPermission, settle: (outcome: PermissionOutcome) => void): void {
    this.entries.set(pending.requestId, { ...pending, settle });
  }

  has(requestId: string): boolean {
    return this.entries.has(requestId);
  }

  /** Answers a request from a client's decision; false when it is not pending (any more). */
  resolve(requestId: string, decision: PermissionDecision): boolean {
    const entry = this.entries.get(requestId);
    if (!entry) return false;
    this.entries.delete(requestId);
    entry.settle(chooseOutcome(entry.options, decision));
    return true;
  }

  /** Withdraws a request (abort, the agent's own cancel, the run's end); false when not pending. */
  cancel(requestId: string): boolean {
    const entry = this.entries.get(requestId);
    if (!entry) return false;
    this.entries.delete(requestId);
    entry.settle({ outcome: 'cancelled' });
    return true;
  }

  listFor(sessionId: string): PendingAcpPermission[] {
    return [...this.entries.values()]
      .filter((entry) => entry.sessionId === sessionId || entry.providerSessionId === sessionId)
      .map(({ settle: _settle, ...pending }) => pending);
  }
}
