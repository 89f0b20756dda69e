/**
 * One `/shell` socket: frames in order (everything after an `init` waits until that `init` has
 * been answered, so input typed right after it is not lost), frames out with a watch on the
 * socket's send buffer. Crossing the high-water mark reports the viewer congested; the send
 * callback that finds the buffer under the low-water mark reports it drained. The session
 * pauses and resumes the PTY on those reports; nothing is ever dropped here. A socket that never
 * reads but keeps asking is cut at `maxBufferedBytes`, and any socket whose frame the gateway-wide
 * send budget refuses is cut too.
 */
import { WebSocket, type RawData } from 'ws';

import { CLOSE, type CloseEntry } from '../../machines/protocolCodes.js';
import type { ShellViewerEvent } from '../../machines/shellSession.machine.js';
import type { Logger } from '../logger.js';
import { admitOrCut, frameBytes, type SendBudget } from '../sendBudget.js';
import { invalidPayloadFrame, parseShellFrame, type ShellClientFrame, type ShellInitRequest } from './shellFrames.js';

export interface ShellConnectionDeps {
  viewerId: string;
  ownerId: string;
  highWaterMark: number;
  lowWaterMark: number;
  /**
   * A socket whose send buffer is over this when a frame must go out has stopped reading while
   * it keeps asking (every `init` answers with a restore frame, which pausing the PTY does not
   * stop); it is cut rather than buffered without end.
   */
  maxBufferedBytes: number;
  /**
   * The gateway-wide bound on bytes queued to all sockets: a frame it refuses is not queued and
   * this socket is cut, as at `maxBufferedBytes` (the PTY lives on; a reconnect restores it).
   */
  sendBudget: SendBudget;
  maxPendingFrames: number;
  logger: Logger;
  /** Handles an `init`; frames that arrive meanwhile wait. */
  init(connection: ShellConnection, request: ShellInitRequest): Promise<void>;
  /** An event for the session this socket is attached to. */
  notify(connection: ShellConnection, event: ShellViewerEvent): void;
  closed(connection: ShellConnection): void;
  /**
   * The TCP socket under `ws`, if known: frames sent in one event-loop turn are corked and leave
   * in one write instead of one syscall each (bench: pty).
   */
  transport?: { cork(): void; uncork(): void } | null;
}

export interface ShellConnection {
  readonly viewerId: string;
  readonly ownerId: string;
  /** The session actor id this socket is attached to, or null. */
  attachedTo: string | null;
  readonly isClosed: boolean;
  /** Sends one serialized frame (dropped only if the socket is no longer open). */
  deliver(text: string): void;
  /** Forgets congestion state: called when the socket moves to another session. */
  resetFlow(): void;
  close(close: CloseEntry): void;
}

export function createShellConnection(ws: WebSocket, deps: ShellConnectionDeps): ShellConnection {
  const pending: RawData[] = [];
  let initInFlight = false;
  let closed = false;
  let congested = false;
  let corked = false;
  const transport = deps.transport ?? null;
  const uncork = () => {
    corked = false;
    transport?.uncork();
  };

  const toSession = (event: ShellViewerEvent) => {
    if (connection.attachedTo !== null) deps.notify(connection, event);
  };

  const onSent = () => {
    if (congested && ws.bufferedAmount <= deps.lowWaterMark) {
      congested = false;
      toSession({ type: 'viewer.drained', viewerId: deps.viewerId });
    }
  };

  const connection: ShellConnection = {
    viewerId: deps.viewerId,
    ownerId: deps.ownerId,
    attachedTo: null,
    get isClosed() {
      return closed;
    },
    deliver(text) {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (!admitOrCut(deps.sendBudget, ws, frameBytes(text), deps.maxBufferedBytes, deps.logger, '/shell')) return;
      if (!corked && transport) {
        corked = true;
        transport.cork();
        process.nextTick(uncork);
      }
      ws.send(text, onSent);
      if (!congested && ws.bufferedAmount > deps.highWaterMark) {
        congested = true;
        toSession({ type: 'viewer.congested', viewerId: deps.viewerId });
      }
    },
    resetFlow() {
      congested = false;
    },
    close({ code, reason }) {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
    },
  };

  const handle = (frame: ShellClientFrame) => {
    switch (frame.type) {
      case 'input':
        if (frame.data) toSession({ type: 'client.input', viewerId: deps.viewerId, data: frame.data });
        return;
      case 'resize':
        toSession({ type: 'client.resize', viewerId: deps.viewerId, cols: frame.cols, rows: frame.rows });
        return;
      case 'invalid':
        connection.deliver(invalidPayloadFrame());
        return;
      case 'ignored':
      case 'init':
        return;
    }
  };

  const pump = async () => {
    while (pending.length > 0 && !initInFlight && !closed) {
      const frame = parseShellFrame(pending.shift()!);
      try {
        if (frame.type !== 'init') {
          handle(frame);
          continue;
        }
        initInFlight = true;
        await deps.init(connection, frame.request);
      } catch (error) {
        deps.logger.error('shell: handling a frame failed', {
          type: frame.type,
          error: error instanceof Error ? error.message : String(error),
        });
      } finally {
        initInFlight = false;
      }
    }
  };

  ws.on('message', (raw) => {
    if (closed) return;
    if (pending.length >= deps.maxPendingFrames) {
      connection.close(CLOSE.TOO_MANY_PENDING_FRAMES);
      return;
    }
    pending.push(raw);
    if (!initInFlight) void pump();
  });
  ws.on('close', () => {
    if (closed) return;
    closed = true;
    pending.length = 0;
    deps.closed(connection);
  });
  ws.on('error', (error) => deps.logger.debug('shell: socket error', { error: error.message }));

  return connection;
}
