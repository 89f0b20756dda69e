import { connect } from 'node:net';

/**
 * Opens a WebSocket with a raw HTTP upgrade so the request path goes out byte for byte (a `ws`
 * client would normalise `/plugin-ws/../x` to `/x`), and returns the status of the first close
 * frame the server sends. Only what these tests need: an unmasked server close frame under 126 bytes.
 */
export function rawUpgradeCloseStatus(port: number, path: string): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    const fail = (message: string) => {
      socket.destroy();
      reject(new Error(message));
    };
    socket.setTimeout(5000, () => fail(`no close frame for ${path}`));
    socket.on('error', (error) => fail(error.message));
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const headerEnd = buffer.indexOf('\r\n\r\n');
      if (headerEnd === -1) return;
      if (!buffer.subarray(0, 12).toString().includes('101')) return fail(`upgrade refused for ${path}`);
      const frame = buffer.subarray(headerEnd + 4);
      if (frame.length < 2) return;
      const length = frame[1] & 0x7f;
      if (frame.length < 2 + length) return;
      if ((frame[0] & 0x0f) !== 0x8) return fail('first frame is not a close frame');
      socket.destroy();
      resolve({ code: frame.readUInt16BE(2), reason: frame.subarray(4, 2 + length).toString('utf8') });
    });
  });
}
