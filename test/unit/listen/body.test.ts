import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeBody } from '../../../src/listen/body.ts';

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
