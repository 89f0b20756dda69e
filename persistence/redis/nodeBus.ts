/**
 * Messages to a named node over Redis pub/sub (`NodeBus`): node X listens on `<p>node:X`. A node
 * that is down does not get them (pub/sub keeps nothing); the senders' protocols allow for that
 * (an abort or an answer to a node that died is moot: its runs are taken over).
 *
 * Incoming messages are checked before a handler sees them: JSON of a known type with the fields
 * it needs, at most `MAX_NODE_MESSAGE_CHARS`; anything else is dropped (logged once per kind).
 */
import type { Redis } from 'ioredis';

import type { ForwardedDecision, NodeBus, NodeMessage } from '../cluster/types.js';
import type { PersistenceLogger } from '../types.js';
import type { RedisKeys } from './keys.js';
import type { ConnectionStatus } from './redisConnections.js';

/** The longest message sent or accepted (a decision may carry a tool's edited input). */
export const MAX_NODE_MESSAGE_CHARS = 8 * 1024 * 1024;
/** Handlers one bus holds (the gateway registers one; a leak would show here). */
export const MAX_NODE_BUS_HANDLERS = 16;

function isDecision(value: unknown): value is ForwardedDecision {
  if (value === null || typeof value !== 'object') return false;
  const { allow, message, optionId } = value as Record<string, unknown>;
  return (
    typeof allow === 'boolean' &&
    (message === undefined || typeof message === 'string') &&
    (optionId === undefined || typeof optionId === 'string')
  );
}

/** The message if `text` is one, else null. */
export function parseNodeMessage(text: string): NodeMessage | null {
  if (text.length > MAX_NODE_MESSAGE_CHARS) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const { type, sessionId, runId, requestId, decision } = value as Record<string, unknown>;
  if (typeof sessionId !== 'string' || typeof runId !== 'string') return null;
  if (type === 'abort') return { type, sessionId, runId };
  if (type === 'permission-response' && typeof requestId === 'string' && isDecision(decision)) {
    return { type, sessionId, runId, requestId, decision };
  }
  return null;
}

export class RedisNodeBus implements NodeBus {
  private readonly handlers: Array<(message: NodeMessage) => void> = [];
  private malformedLogged = false;

  constructor(
    private readonly command: Redis,
    private readonly subscriber: Redis,
    private readonly keys: RedisKeys,
    private readonly nodeId: string,
    private readonly status: ConnectionStatus,
    private readonly logger?: PersistenceLogger,
  ) {}

  /** Subscribes to this node's channel, and again after every reconnect (`autoResubscribe` is off). */
  async start(): Promise<void> {
    const channel = this.keys.nodeChannel(this.nodeId);
    this.subscriber.on('message', (from: string, text: string) => {
      if (from === channel) this.receive(text);
    });
    await this.subscriber.subscribe(channel);
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(channel).catch((error: unknown) => {
        // Lost again at once: the next `ready` subscribes again.
        this.status.noteFailure(error);
        this.logger?.warn('Could not resubscribe to this node\'s channel', { error: this.status.describe(error) });
      });
    });
  }

  async send(nodeId: string, message: NodeMessage): Promise<void> {
    if (typeof nodeId !== 'string' || nodeId === '') throw new TypeError('send needs a node id');
    const text = JSON.stringify(message);
    if (parseNodeMessage(text) === null) throw new TypeError('Not a node message (or longer than MAX_NODE_MESSAGE_CHARS)');
    try {
      await this.command.publish(this.keys.nodeChannel(nodeId), text);
      this.status.noteSuccess();
    } catch (error) {
      this.status.noteFailure(error);
      throw error;
    }
  }

  onMessage(handler: (message: NodeMessage) => void): void {
    if (this.handlers.length >= MAX_NODE_BUS_HANDLERS) throw new RangeError(`A node bus holds at most ${MAX_NODE_BUS_HANDLERS} handlers`);
    this.handlers.push(handler);
  }

  private receive(text: string): void {
    const message = parseNodeMessage(text);
    if (message === null) {
      if (!this.malformedLogged) {
        this.malformedLogged = true;
        this.logger?.warn('Dropped a malformed node message', { nodeId: this.nodeId, length: text.length });
      }
      return;
    }
    for (const handler of this.handlers) {
      try {
        handler(message);
      } catch (error) {
        this.logger?.error('A node message handler threw', { error: this.status.describe(error) });
      }
    }
  }
}
