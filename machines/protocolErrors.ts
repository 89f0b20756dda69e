/**
 * Every `protocol_error` code of `/ws`, with the text a client sees. One table, documented in
 * docs/PROTOCOL.md; machines and the gateway refer to codes by name only.
 */
export const PROTOCOL_ERRORS = {
  INTERNAL_ERROR: 'The gateway failed to handle this frame.',
  INVALID_PAYLOAD: 'Frames must be JSON objects with a string "type".',
  UNKNOWN_MESSAGE_TYPE: 'Unknown message type.',
  SESSION_ID_REQUIRED: 'This frame requires a non-empty sessionId.',
  SESSION_NOT_FOUND: 'Session not found. Create it via POST /api/providers/sessions first.',
  UNSUPPORTED_PROVIDER: 'The session\'s provider has no runtime on this gateway.',
  RUN_IN_PROGRESS: 'The session already has a run in progress.',
  NO_ACTIVE_RUN: 'The session has no active run.',
  PAYLOAD_TOO_LARGE: 'The frame asks for more than the gateway allows.',
  UNKNOWN_PERMISSION_REQUEST: 'No pending permission request with this requestId in a session this socket is subscribed to.',
} as const;

export type ProtocolErrorCode = keyof typeof PROTOCOL_ERRORS;

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
