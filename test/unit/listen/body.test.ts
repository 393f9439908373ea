import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeBody, readBody } from '../../../src/listen/body.ts';

const body = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/list"}');

async function code(fn: () => unknown) {
  try {
    await fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

describe('decodeBody', () => {
  it('decodes gzip, deflate and br; identity and none pass', async () => {
    expect(await decodeBody(gzipSync(body), 'gzip', 1024)).toEqual(body);
    expect(await decodeBody(gzipSync(body), 'X-Gzip', 1024)).toEqual(body);
    expect(await decodeBody(deflateSync(body), 'deflate', 1024)).toEqual(body);
    expect(await decodeBody(brotliCompressSync(body), 'br', 1024)).toEqual(body);
    expect(await decodeBody(body, 'identity', 1024)).toBe(body);
    expect(await decodeBody(body, undefined, 1024)).toBe(body);
  });

  it('bounds the decoded size (zip bomb), refuses broken, stacked and unknown codings', async () => {
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect(await code(() => decodeBody(bomb, 'gzip', 1024 * 1024))).toBe('SARK_BODY_TOO_LARGE');
    expect(await code(() => decodeBody(brotliCompressSync(Buffer.alloc(4096)), 'br', 1024))).toBe(
      'SARK_BODY_TOO_LARGE',
    );
    expect(await code(() => decodeBody(body, 'gzip', 1024))).toBe('SARK_PARSE_ERROR');
    expect(await code(() => decodeBody(body, 'br', 1024))).toBe('SARK_PARSE_ERROR');
    expect(await code(() => decodeBody(gzipSync(gzipSync(body)), 'gzip, gzip', 1024))).toBe(
      'SARK_UNSUPPORTED_MEDIA_TYPE',
    );
    expect(await code(() => decodeBody(body, 'zstd', 1024))).toBe('SARK_UNSUPPORTED_MEDIA_TYPE');
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(await code(() => decodeBody(body, name, 1024))).toBe('SARK_UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('inflates a large body without holding the event loop', async () => {
    // 16 MiB of JSON-ish text: inflating it in one synchronous call holds the
    // loop for tens of milliseconds; on the thread pool the loop keeps turning.
    const limit = 32 * 1024 * 1024;
    const big = Buffer.alloc(16 * 1024 * 1024, '{"a":"bcdefgh"},');
    for (const [coding, packed] of [
      ['gzip', gzipSync(big)],
      ['deflate', deflateSync(big)],
    ] as const) {
      let turns = 0;
      let spinning = true;
      const spin = () => {
        turns++;
        if (spinning) setImmediate(spin);
      };
      setImmediate(spin);
      const decoded = await decodeBody(packed, coding, limit);
      spinning = false;
      expect(decoded.length).toBe(big.length);
      expect(turns).toBeGreaterThan(10);
    }
  });
});

describe('readBody when the client goes away', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('rejects with a catalogue error, never an unexplained one', async () => {
    const outcome = new Promise<unknown>((resolve) => {
      server = createServer((req) => readBody(req, 1024).then(resolve, resolve));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { port } = server!.address() as { port: number };
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"jsonrpc"');
      setTimeout(() => socket.destroy(), 50);
    });
    expect(await outcome).toMatchObject({ code: 'SARK_INVALID_REQUEST' });
  });
});

describe('readBody of a body sent in tiny pieces', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('holds the body, not an object per piece', async () => {
    const pieces = 200_000;
    const measured = new Promise<{ body: Buffer; extraBytes: number }>((resolve, reject) => {
      server = createServer((req, res) => {
        const base = process.memoryUsage();
        let peak = 0;
        const sample = () => {
          const m = process.memoryUsage();
          peak = Math.max(peak, m.heapUsed + m.arrayBuffers - base.heapUsed - base.arrayBuffers);
        };
        const timer = setInterval(sample, 5);
        readBody(req, 1024 * 1024).then((body) => {
          sample();
          clearInterval(timer);
          res.end();
          resolve({ body, extraBytes: peak });
        }, reject);
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { port } = server!.address() as { port: number };
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
      let sent = 0;
      const more = () => {
        const n = Math.min(5_000, pieces - sent);
        sent += n;
        socket.write('1\r\na\r\n'.repeat(n) + (sent === pieces ? '0\r\n\r\n' : ''));
        if (sent < pieces) setImmediate(more);
      };
      more();
    });
    const { body, extraBytes } = await measured;
    socket.destroy();
    expect(body.length).toBe(pieces);
    expect(body.every((b) => b === 0x61)).toBe(true);
    // Kept as a list of pieces this was ~53 MiB; copied into one buffer, ~2 MiB of passing garbage.
    expect(extraBytes).toBeLessThan(24 * 1024 * 1024);
  });
});
