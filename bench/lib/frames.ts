/**
 * What the producer streams. A runtime message is a ~110-byte `stream_delta` (what a provider's
 * token stream looks like after normalisation), carrying `t`, the producer's monotonic clock in µs
 * when the event was due (paced streams) or sent (bursts), so the load generator can measure
 * send → receive latency in another process.
 */
const DELTAS = [
  'Refactoring the h',
  'andler so that ea',
  'ch frame is seria',
  'lized only once. ',
];

export interface DeltaMessage {
  kind: 'stream_delta';
  id: string;
  provider: string;
  delta: string;
  t: number;
  [key: string]: unknown;
}

export function deltaMessage(n: number, t: number): DeltaMessage {
  return { kind: 'stream_delta', id: `evt-${String(n).padStart(8, '0')}`, provider: 'claude', delta: DELTAS[n & 3], t };
}

const SEQ_KEY = Buffer.from('"seq":');
const T_KEY = Buffer.from('"t":');
const LAST_SEQ_KEY = Buffer.from('"lastSeq":');
const ACK_KIND = Buffer.from('"kind":"chat_subscribed"');

/** The non-negative integer after `key` in a JSON text, or -1; no parse of the whole frame. */
function readInteger(data: Buffer, key: Buffer): number {
  const at = data.indexOf(key);
  if (at < 0) return -1;
  let value = 0;
  let i = at + key.length;
  let digits = 0;
  for (; i < data.length; i++) {
    const c = data[i];
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
    digits++;
  }
  return digits > 0 ? value : -1;
}

export const frameSeq = (data: Buffer): number => readInteger(data, SEQ_KEY);
export const frameSentAt = (data: Buffer): number => readInteger(data, T_KEY);
export const ackLastSeq = (data: Buffer): number => readInteger(data, LAST_SEQ_KEY);
export const isAck = (data: Buffer): boolean => data.indexOf(ACK_KIND) >= 0;
