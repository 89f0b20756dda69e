/**
 * The screen mirror worker: hosts the headless terminals of a route's PTYs (see
 * screenMirrorHost.ts). Parse acknowledgements are coalesced per mirror and sent once per turn;
 * a snapshot first sends the acknowledgements before it, so the main thread sees every answer in
 * write order.
 */
import { parentPort } from 'node:worker_threads';

import { createScreenMirror, type ScreenMirror } from './screenMirror.js';
import type { MirrorReply, MirrorRequest } from './screenMirrorHost.js';

const port = parentPort;
if (!port) throw new Error('screenMirrorWorker.ts runs as a worker thread');

const mirrors = new Map<number, ScreenMirror>();
/** Mirror id → the highest write parsed and not yet acknowledged. */
const unacknowledged = new Map<number, number>();
let flushScheduled = false;

const send = (reply: MirrorReply) => port.postMessage(reply);

const flushAcks = () => {
  flushScheduled = false;
  for (const [id, ack] of unacknowledged) send({ op: 'parsed', id, ack });
  unacknowledged.clear();
};

const parsed = (id: number, ack: number) => {
  unacknowledged.set(id, ack);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAcks);
  }
};

port.on('message', (request: MirrorRequest) => {
  switch (request.op) {
    case 'create':
      mirrors.set(request.id, createScreenMirror(request.options));
      return;
    case 'write': {
      const mirror = mirrors.get(request.id);
      if (!mirror) return;
      const { id, ack } = request;
      if (ack === 0) mirror.write(request.data);
      else mirror.write(request.data, () => parsed(id, ack));
      return;
    }
    case 'resize':
      mirrors.get(request.id)?.resize(request.cols, request.rows);
      return;
    case 'snapshot': {
      const mirror = mirrors.get(request.id);
      if (!mirror) return;
      const { id, ack } = request;
      mirror.whenParsed(() => {
        const pending = unacknowledged.get(id);
        if (pending !== undefined) {
          unacknowledged.delete(id);
          send({ op: 'parsed', id, ack: pending });
        }
        send({ op: 'snapshot', id, ack, state: mirror.serializeState() });
      });
      return;
    }
    case 'dispose':
      mirrors.get(request.id)?.dispose();
      mirrors.delete(request.id);
      unacknowledged.delete(request.id);
      return;
  }
});
