import { ERROR_CODES, type ErrorCode } from './protocolCodes.js';

/**
 * `protocol_error` frames of `/ws`. The codes and their texts live in the one table of
 * machines/protocolCodes.ts (`ERROR_CODES`); this module keeps the names the chat path and the
 * package entry have always imported, and builds the frame.
 */
export const PROTOCOL_ERRORS = ERROR_CODES;

export type ProtocolErrorCode = ErrorCode;

/** A `protocol_error` frame before the gateway stamps its `timestamp`. */
export interface ProtocolErrorFrame {
  kind: 'protocol_error';
  code: ProtocolErrorCode;
  error: string;
  sessionId: string | null;
}

export function protocolError(code: ProtocolErrorCode, sessionId: string | null, detail?: string): ProtocolErrorFrame {
  return { kind: 'protocol_error', code, error: detail ?? PROTOCOL_ERRORS[code], sessionId };
}
