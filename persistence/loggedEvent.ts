import type { LoggedEvent } from './types.js';

/**
 * Throws a TypeError for an event no log can store: a malformed row would fail every retry of
 * the batch it is in, stalling every session of the batch (SQLite's log and Redis's alike).
 */
export function assertLoggedEvent(event: LoggedEvent): void {
  if (
    event === null ||
    typeof event !== 'object' ||
    typeof event.sessionId !== 'string' ||
    typeof event.runId !== 'string' ||
    typeof event.kind !== 'string' ||
    typeof event.json !== 'string' ||
    !Number.isFinite(event.at)
  ) {
    throw new TypeError('A logged event needs string sessionId, runId, kind and json, and a finite at');
  }
}
