/**
 * Reads a request body with a hard byte limit. The declared Content-Length is
 * checked before reading, and the running total while reading, so an
 * oversize body is refused without being buffered.
 */
import type { IncomingMessage } from 'node:http';
import { SarkError } from '../errors.ts';

export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(new SarkError('SARK_BODY_TOO_LARGE', { publicDetail: `limit is ${maxBytes} bytes` }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    function onData(chunk: Buffer) {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        // Stop reading; the caller answers 413 and closes the connection.
        req.pause();
        reject(new SarkError('SARK_BODY_TOO_LARGE', { publicDetail: `limit is ${maxBytes} bytes` }));
        return;
      }
      chunks.push(chunk);
    }
    function onEnd() {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    }
    function onError(err: Error) {
      cleanup();
      reject(err);
    }
    function cleanup() {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
