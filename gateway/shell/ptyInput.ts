/**
 * Input on its way to one PTY, bounded in bytes (`shellMaxPendingInputBytes`).
 *
 * The kernel takes a few KiB of input for a program that does not read; then a write answers
 * EAGAIN and the rest must wait in the gateway. node-pty 1.1.0's own writer (`write()`, its
 * `CustomWriteStream`) queues every write without bound and retries EAGAIN on every event-loop
 * turn: a client flooding a `sleep 600` grew the gateway by a gigabyte. So input goes to the PTY
 * master here, the way node-pty does it (`fs.write` on its descriptor), with three differences:
 * what waits is counted and bounded (a write that would go over is refused whole, nothing of it
 * queued), EAGAIN is retried with a backing-off timer instead of spinning, and `dispose()` drops
 * what waits the moment the PTY exits or its session ends.
 *
 * A handle without a descriptor (a scripted test PTY) is written to with its own `write()`.
 */
import fs from 'node:fs';

export interface PtyInputTarget {
  write(data: string): void;
}

export interface PtyInput {
  /** Queues `data`; false, and nothing queued, when it would take the waiting bytes over the bound. */
  write(data: string): boolean;
  /** Bytes accepted and not yet taken by the kernel. */
  readonly pendingBytes: number;
  /** Drops whatever waits; later writes are ignored. */
  dispose(): void;
}

/** Small writes behind the one in flight are merged up to this size, so many keystrokes cost one buffer. */
const MERGE_BYTES = 64 * 1024;
/** EAGAIN (the program is not reading) is retried after this, doubling up to the maximum. */
const RETRY_FIRST_MS = 1;
const RETRY_MAX_MS = 64;

const descriptorOf = (target: PtyInputTarget): number | null => {
  const fd = (target as { fd?: unknown }).fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null;
};

export function createPtyInput(
  target: PtyInputTarget,
  maxPendingBytes: number,
  onWriteError: (error: NodeJS.ErrnoException) => void,
): PtyInput {
  const fd = descriptorOf(target);
  /** queue[0] is being written from `offset`; later entries wait. */
  const queue: Buffer[] = [];
  let offset = 0;
  let pending = 0;
  let writing = false;
  let retryMs = RETRY_FIRST_MS;
  let retry: ReturnType<typeof setTimeout> | null = null;
  let disposed = false;

  const drop = () => {
    queue.length = 0;
    offset = 0;
    pending = 0;
  };

  const pump = () => {
    retry = null;
    if (disposed || writing || queue.length === 0 || fd === null) return;
    writing = true;
    const head = queue[0];
    fs.write(fd, head, offset, head.length - offset, null, (error, written) => {
      writing = false;
      if (disposed) return;
      if (error) {
        if (error.code === 'EAGAIN' || error.code === 'EWOULDBLOCK') {
          retry = setTimeout(pump, retryMs);
          retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
          return;
        }
        // EIO / EBADF: the program is gone; its exit is on its way.
        drop();
        onWriteError(error);
        return;
      }
      retryMs = RETRY_FIRST_MS;
      offset += written;
      pending -= written;
      if (offset >= head.length) {
        queue.shift();
        offset = 0;
      }
      pump();
    });
  };

  return {
    write(data) {
      if (disposed) return false;
      if (fd === null) {
        target.write(data);
        return true;
      }
      const bytes = Buffer.byteLength(data);
      if (bytes === 0) return true;
      if (pending + bytes > maxPendingBytes) return false;
      const chunk = Buffer.from(data, 'utf8');
      const last = queue.length > 1 ? queue[queue.length - 1] : null;
      if (last && last.length + bytes <= MERGE_BYTES) queue[queue.length - 1] = Buffer.concat([last, chunk]);
      else queue.push(chunk);
      pending += bytes;
      if (!writing && retry === null) pump();
      return true;
    },
    get pendingBytes() {
      return pending;
    },
    dispose() {
      disposed = true;
      if (retry) clearTimeout(retry);
      retry = null;
      drop();
    },
  };
}
