import { describe, expect, it } from 'vitest';
import {
  clientResponseHeaders,
  isEventStream,
  isIdentityEncoded,
  isJson,
  upstreamRequestHeaders,
} from '../../../src/forward/headers.ts';

describe('forwarded headers', () => {
  it('drops hop-by-hop fields, those the Connection header names, SARK credentials and what described the client body', () => {
    const out = upstreamRequestHeaders(
      {
        connection: ['keep-alive, X-Internal-Route'],
        'x-internal-route': ['admin'],
        'keep-alive': ['timeout=5'],
        authorization: ['Bearer t'],
        'x-api-key': ['k'],
        'content-encoding': ['gzip'],
        'content-type': ['application/json; charset=latin1'],
        'content-md5': ['x'],
        digest: ['sha-256=x'],
        'content-digest': ['sha-256=:x:'],
        'mcp-param-region': ['eu'],
        'mcp-session-id': ['s'],
        'user-agent': ['ua'],
      },
      { 'mcp-method': null },
      '{"a":"é"}',
    );
    expect(out).toEqual({
      'mcp-session-id': ['s'],
      'user-agent': ['ua'],
      'accept-encoding': 'identity',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength('{"a":"é"}')),
    });
  });

  it('drops hop-by-hop response fields and those the upstream Connection names', () => {
    expect(
      clientResponseHeaders({
        connection: 'close, x-hop',
        'x-hop': '1',
        'transfer-encoding': 'chunked',
        'mcp-session-id': 's',
      }),
    ).toEqual({ 'mcp-session-id': 's' });
  });

  it('compares media types without case', () => {
    expect(isEventStream('Text/Event-Stream; charset=utf-8')).toBe(true);
    expect(isJson('Application/JSON')).toBe(true);
    expect(isJson('application/problem+json')).toBe(true);
    expect(isJson('text/plain')).toBe(false);
    expect(isIdentityEncoded(undefined)).toBe(true);
    expect(isIdentityEncoded('Identity')).toBe(true);
    expect(isIdentityEncoded('gzip')).toBe(false);
  });
});
