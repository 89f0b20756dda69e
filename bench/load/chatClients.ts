/**
 * A pool of /ws client sockets in the load generator. Frames are never fully parsed: the seq,
 * the producer's timestamp and the ack's lastSeq are read straight from the bytes, so the load
 * generator stays cheap next to the server it measures (and costs the same for every server).
 *
 * `socketio` speaks socket.io's wire protocol on a plain `ws` socket (Engine.IO 4 over WebSocket,
 * no polling): `0` open → `40` connect (with `{pid, offset}` to recover a session) → `40{sid,pid}`;
 * events are `42["chat",frame(,offset)]`, pings `2` answered `3`. The frame inside is the same
 * JSON, so the same byte scans read it; the client's own work stays the same as on `/ws`.
 */
import { WebSocket } from 'ws';

import { nowUs, sleep } from '../lib/clock.js';
import { ackLastSeq, frameSentAt, frameSeq, isAck } from '../lib/frames.js';
import { createConditionWaiter } from '../lib/conditionWaiter.js';

export type ChatProtocol = 'ws' | 'socketio';

/** Where a client resumes: its session and last seq, and (socket.io) the session to recover. */
export interface ChatTarget {
  sessionId: string;
  lastSeq: number;
  /** socket.io: the private session id and the offset of the last broadcast received. */
  pid?: string;
  offset?: string;
}

export interface ChatClient {
  ws: WebSocket;
  sessionId: string;
  /** socket.io: the private session id the server gave (null on /ws). */
  pid: string | null;
  /** socket.io: the last broadcast packet received (its offset is read on drop). */
  lastBroadcast: Buffer | null;
  /** socket.io: the server restored the previous session (rooms and missed packets). */
  recovered: boolean;
  acked: boolean;
  /** The session's latest seq according to the ack (-1 before the ack). */
  ackLastSeq: number;
  /** The next seq this client expects: one past the highest contiguous seq it has. */
  next: number;
  /** Event frames counted since the pool was last armed. */
  received: number;
  gaps: number;
  dups: number;
  lastReceivedUs: number;
  /** When the client first had every event up to its ack's lastSeq (0: not yet). */
  caughtUpUs: number;
}

const CONNECT_TIMEOUT_MS = 20_000;
/** Engine.IO packet types (first byte) and socket.io packet types (second byte of a `4` message). */
const ENGINE_OPEN = 0x30;
const ENGINE_PING = 0x32;
const ENGINE_MESSAGE = 0x34;
const SOCKET_CONNECT = 0x30;
const SOCKET_EVENT = 0x32;
const QUOTE = 0x22;

/** The offset at the end of a socket.io broadcast packet. */
function broadcastOffset(packet: Buffer | null): string | undefined {
  if (!packet) return undefined;
  const end = packet.length - 2;
  const start = packet.lastIndexOf(QUOTE, end - 1);
  return start < 0 ? undefined : packet.subarray(start + 1, end).toString();
}

export class ChatClientPool {
  readonly clients: ChatClient[] = [];
  connectFailures = 0;
  private target = Number.POSITIVE_INFINITY;
  private reached = 0;
  private latencies: Float64Array | null = null;
  private latencyCount = 0;
  private readonly waiter = createConditionWaiter();

  constructor(
    private readonly url: string,
    private readonly protocol: ChatProtocol = 'ws',
  ) {}

  /** Opens `count` sockets, at most `concurrency` handshakes at a time; each subscribes once open. */
  async open(targets: ChatTarget[], concurrency: number, subscribeNow = true): Promise<ChatClient[]> {
    const opened: ChatClient[] = [];
    let index = 0;
    const worker = async () => {
      while (index < targets.length) {
        const target = targets[index++];
        const client = await this.connect(target, subscribeNow);
        if (client) opened.push(client);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
    return opened;
  }

  /** Sends the client's subscribe, resuming after the last seq it holds. */
  subscribe(client: ChatClient): void {
    const request = { sessions: [{ sessionId: client.sessionId, lastSeq: client.next - 1 }] };
    if (this.protocol === 'socketio') client.ws.send(`42${JSON.stringify(['chat.subscribe', request])}`);
    else client.ws.send(JSON.stringify({ type: 'chat.subscribe', ...request }));
  }

  private connect(target: ChatTarget, subscribeNow: boolean): Promise<ChatClient | null> {
    const { sessionId, lastSeq } = target;
    const ws = new WebSocket(`${this.url}`, { perMessageDeflate: false, skipUTF8Validation: true });
    const client: ChatClient = {
      ws,
      sessionId,
      pid: null,
      lastBroadcast: null,
      recovered: false,
      acked: false,
      ackLastSeq: -1,
      next: lastSeq + 1,
      received: 0,
      gaps: 0,
      dups: 0,
      lastReceivedUs: 0,
      caughtUpUs: 0,
    };
    ws.on('error', () => {});
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.connectFailures++;
        ws.terminate();
        resolve(null);
      }, CONNECT_TIMEOUT_MS);
      const ready = () => {
        clearTimeout(timer);
        this.clients.push(client);
        // A recovered socket.io session is back in its rooms and is sent what it missed.
        if (subscribeNow && !client.recovered) this.subscribe(client);
        resolve(client);
      };
      if (this.protocol === 'socketio') {
        ws.on('message', (data: Buffer) => this.onSocketIoMessage(client, data, target, ready));
      } else {
        ws.on('message', (data: Buffer) => this.onMessage(client, data));
        ws.once('open', ready);
      }
      ws.once('close', () => {
        clearTimeout(timer);
        if (!client.acked && ws.readyState !== WebSocket.OPEN) {
          this.connectFailures++;
          resolve(null);
        }
      });
    });
  }

  /** Engine.IO / socket.io packets: the handshake and pings here, event frames as on /ws. */
  private onSocketIoMessage(client: ChatClient, data: Buffer, target: ChatTarget, ready: () => void): void {
    const type = data[0];
    if (type === ENGINE_OPEN) {
      const recover = target.pid && target.offset ? JSON.stringify({ pid: target.pid, offset: target.offset }) : '';
      client.ws.send(`40${recover}`);
      return;
    }
    if (type === ENGINE_PING) {
      client.ws.send('3');
      return;
    }
    if (type !== ENGINE_MESSAGE) return;
    if (data[1] === SOCKET_CONNECT) {
      const { pid } = JSON.parse(data.subarray(2).toString()) as { pid?: string };
      client.pid = pid ?? null;
      client.recovered = pid !== undefined && pid === target.pid;
      ready();
      return;
    }
    if (data[1] !== SOCKET_EVENT) return;
    // A broadcast carries its offset last: `…},"<offset>"]`; an ack or a replayed frame ends `}]`.
    if (data[data.length - 2] === QUOTE) client.lastBroadcast = data;
    this.onMessage(client, data);
  }

  private onMessage(client: ChatClient, data: Buffer): void {
    const now = nowUs();
    if (!client.acked && isAck(data)) {
      client.acked = true;
      client.ackLastSeq = ackLastSeq(data);
      this.checkCaughtUp(client, now);
      this.wake();
      return;
    }
    const seq = frameSeq(data);
    if (seq < 0) return;
    if (seq === client.next) client.next++;
    else if (seq < client.next) client.dups++;
    else {
      client.gaps += seq - client.next;
      client.next = seq + 1;
    }
    client.received++;
    client.lastReceivedUs = now;
    const latencies = this.latencies;
    if (latencies && this.latencyCount < latencies.length) latencies[this.latencyCount++] = (now - frameSentAt(data)) / 1000;
    if (client.received === this.target) {
      this.reached++;
      if (this.reached === this.clients.length) this.wake();
    }
    if (client.caughtUpUs === 0) this.checkCaughtUp(client, now);
  }

  private checkCaughtUp(client: ChatClient, now: number): void {
    if (client.caughtUpUs === 0 && client.acked && client.next > client.ackLastSeq) {
      client.caughtUpUs = now;
      this.wake();
    }
  }

  private wake(): void {
    this.waiter.wake();
  }

  /** Resolves once `condition` holds (re-checked on acks, targets and a 50 ms poll); rejects after `timeoutMs`. */
  waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.waiter.waitFor(condition, timeoutMs, what);
  }

  allAcked = () => this.clients.every((client) => client.acked);

  /** Counts from zero again; `perClient` frames per client complete the count. */
  arm(perClient: number, latencySamples = 0): void {
    this.target = perClient;
    this.reached = 0;
    for (const client of this.clients) client.received = 0;
    this.latencies = latencySamples > 0 ? new Float64Array(latencySamples) : null;
    this.latencyCount = 0;
  }

  allReachedTarget = () => this.reached >= this.clients.length;

  takeLatencies(): { samples: Float64Array; count: number } {
    const samples = this.latencies ?? new Float64Array(0);
    const count = this.latencyCount;
    this.latencies = null;
    return { samples, count };
  }

  totals() {
    let gaps = 0;
    let dups = 0;
    let received = 0;
    let lastReceivedUs = 0;
    for (const client of this.clients) {
      gaps += client.gaps;
      dups += client.dups;
      received += client.received;
      if (client.lastReceivedUs > lastReceivedUs) lastReceivedUs = client.lastReceivedUs;
    }
    return { gaps, dups, received, lastReceivedUs, clients: this.clients.length, connectFailures: this.connectFailures };
  }

  /** Drops every socket at once, as a network blip would; returns each client's resume point. */
  dropAll(): Array<ChatTarget & { gaps: number; dups: number }> {
    const resume = this.clients.map((client) => ({
      sessionId: client.sessionId,
      lastSeq: client.next - 1,
      pid: client.pid ?? undefined,
      offset: broadcastOffset(client.lastBroadcast),
      gaps: client.gaps,
      dups: client.dups,
    }));
    for (const client of this.clients) client.ws.terminate();
    this.clients.length = 0;
    return resume;
  }

  async closeAll(timeoutMs = 10_000): Promise<void> {
    const closing = this.clients.map(
      (client) =>
        new Promise<void>((resolve) => {
          if (client.ws.readyState === WebSocket.CLOSED) return resolve();
          client.ws.once('close', () => resolve());
          client.ws.close();
        }),
    );
    await Promise.race([Promise.all(closing), sleep(timeoutMs)]);
    for (const client of this.clients) client.ws.terminate();
    this.clients.length = 0;
  }
}
