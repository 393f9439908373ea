import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeBody } from '../../../src/listen/body.ts';

const body = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/list"}');

function code(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

describe('decodeBody', () => {
  it('decodes gzip, deflate and br; identity and none pass', () => {
    expect(decodeBody(gzipSync(body), 'gzip', 1024)).toEqual(body);
    expect(decodeBody(gzipSync(body), 'X-Gzip', 1024)).toEqual(body);
    expect(decodeBody(deflateSync(body), 'deflate', 1024)).toEqual(body);
    expect(decodeBody(brotliCompressSync(body), 'br', 1024)).toEqual(body);
    expect(decodeBody(body, 'identity', 1024)).toBe(body);
    expect(decodeBody(body, undefined, 1024)).toBe(body);
  });

  it('bounds the decoded size (zip bomb), refuses broken, stacked and unknown codings', () => {
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect(code(() => decodeBody(bomb, 'gzip', 1024 * 1024))).toBe('SARK_BODY_TOO_LARGE');
    expect(code(() => decodeBody(body, 'gzip', 1024))).toBe('SARK_PARSE_ERROR');
    expect(code(() => decodeBody(gzipSync(gzipSync(body)), 'gzip, gzip', 1024))).toBe('SARK_UNSUPPORTED_MEDIA_TYPE');
    expect(code(() => decodeBody(body, 'zstd', 1024))).toBe('SARK_UNSUPPORTED_MEDIA_TYPE');
  });
});
