/**
 * Reads a request body with a hard byte limit, and decodes its
 * Content-Encoding. The declared Content-Length is checked before reading, and
 * the running total while reading, so an oversize body is refused without
 * being buffered.
 */
import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from 'node:zlib';
import { SarkError } from '../errors.ts';
import { timedOut } from './connections.ts';

export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(new SarkError('SARK_BODY_TOO_LARGE', { publicDetail: `limit is ${maxBytes} bytes` }));
  }
  return new Promise((resolve, reject) => {
    // Every piece is copied into one buffer as it comes: a body sent in many
    // tiny pieces (a byte at a time, or a chunked body of 1-byte chunks) must
    // not cost a Buffer object per piece — kept as a list, 200,000 one-byte
    // chunks held 53 MiB. The buffer starts at the Content-Length up to
    // 16 KiB (a client that announces 1 MiB and then trickles must not hold
    // 1 MiB for it) and doubles as it fills, up to the limit.
    const expected = declared === undefined ? Number.NaN : Number(declared);
    let body = Buffer.allocUnsafe(Math.min(expected >= 0 ? expected : INITIAL_BYTES, INITIAL_BYTES, maxBytes));
    let size = 0;
    function onData(chunk: Buffer) {
      if (size + chunk.length > maxBytes) {
        cleanup();
        // Stop reading; the caller answers 413 and closes the connection.
        req.pause();
        reject(new SarkError('SARK_BODY_TOO_LARGE', { publicDetail: `limit is ${maxBytes} bytes` }));
        return;
      }
      if (size + chunk.length > body.length) {
        const grown = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(body.length * 2, size + chunk.length)));
        body.copy(grown, 0, 0, size);
        body = grown;
      }
      chunk.copy(body, size);
      size += chunk.length;
    }
    function onEnd() {
      cleanup();
      resolve(size === body.length ? body : body.subarray(0, size));
    }
    function onError(err: Error) {
      cleanup();
      reject(bodyReadError(req, err));
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

/** Largest first buffer for a body; doubled as it fills. */
const INITIAL_BYTES = 16 * 1024;

/**
 * The body stopped before its end: either the listener cut a slow client off
 * (slow-clients.ts has already answered 408 and counted it), or the client
 * closed the connection. Neither is a fault of SARK's, so neither may reach
 * the pipeline as an internal error (logged at error level, once per request).
 */
function bodyReadError(req: IncomingMessage, err: Error): SarkError {
  if (timedOut(req.socket)) {
    return new SarkError('SARK_REQUEST_TIMEOUT', { detail: 'the request was not received in time', cause: err });
  }
  return new SarkError('SARK_INVALID_REQUEST', {
    detail: `the connection closed before the body was complete (${(err as { code?: string }).code ?? err.message})`,
    cause: err,
  });
}

/** A Map, not an object: a coding named `constructor` or `__proto__` must find nothing. */
const decoders: ReadonlyMap<string, (body: Buffer, options: ZlibOptions) => Promise<Buffer>> = new Map([
  ['gzip', promisify(gunzip)],
  ['x-gzip', promisify(gunzip)],
  ['deflate', promisify(inflate)],
  ['br', promisify(brotliDecompress)],
]);

/**
 * Decodes a Content-Encoding so that the policy judges the message itself,
 * never compressed bytes it cannot read. The decoded size is bounded by the
 * same limit as plain bodies (a small gzip can expand enormously). Stacked or
 * unknown encodings are refused.
 *
 * zlib's asynchronous functions inflate on the libuv thread pool, one output
 * chunk at a time, and stop at `maxOutputLength`: a large or hostile input
 * never holds the event loop (the *Sync forms inflated a whole body in one
 * call on it), and never grows past the bound.
 */
export async function decodeBody(body: Buffer, encoding: string | undefined, maxBytes: number): Promise<Buffer> {
  if (encoding === undefined) return body;
  const coding = encoding.trim().toLowerCase();
  if (coding === '' || coding === 'identity') return body;
  const decode = decoders.get(coding);
  if (decode === undefined) {
    throw new SarkError('SARK_UNSUPPORTED_MEDIA_TYPE', {
      publicDetail: `content-encoding ${JSON.stringify(coding)} is not supported (gzip, deflate, br)`,
    });
  }
  try {
    return await decode(body, { maxOutputLength: maxBytes, chunkSize: DECODE_CHUNK_BYTES });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new SarkError('SARK_BODY_TOO_LARGE', { publicDetail: `decoded body exceeds ${maxBytes} bytes` });
    }
    throw new SarkError('SARK_PARSE_ERROR', { publicDetail: `the ${coding} body cannot be decoded` });
  }
}

/** Output per thread-pool step: fewer round trips than zlib's 16 KiB default, still short steps. */
const DECODE_CHUNK_BYTES = 64 * 1024;
