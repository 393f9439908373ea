import { describe, expect, it } from 'vitest';
import type { SarkError } from '../../../src/errors.ts';
import { errorResponse, parseBody } from '../../../src/mcp/jsonrpc.ts';

function codeOf(body: string): string | undefined {
  try {
    parseBody(body);
  } catch (err) {
    return (err as SarkError).code;
  }
  return undefined;
}

describe('parseBody', () => {
  it('accepts requests, notifications, responses and batches', () => {
    expect(parseBody('{"jsonrpc":"2.0","id":1,"method":"ping"}')).toMatchObject({ method: 'ping' });
    expect(parseBody('{"jsonrpc":"2.0","method":"notifications/initialized"}')).toMatchObject({
      method: 'notifications/initialized',
    });
    expect(parseBody('{"jsonrpc":"2.0","id":"a","result":{}}')).toMatchObject({ id: 'a' });
    expect(parseBody('{"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"m"}}')).toMatchObject({ id: 'a' });
    expect(parseBody('[{"jsonrpc":"2.0","id":1,"method":"ping"}]')).toHaveLength(1);
  });

  it.each([
    ['{', 'SARK_PARSE_ERROR'],
    ['', 'SARK_PARSE_ERROR'],
    ['null', 'SARK_INVALID_REQUEST'],
    ['[]', 'SARK_INVALID_REQUEST'],
    ['{"jsonrpc":"2.0"}', 'SARK_INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":{},"method":"x"}', 'SARK_INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":1,"method":""}', 'SARK_INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":1,"method":7}', 'SARK_INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":1,"method":"x","result":1}', 'SARK_INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}', 'SARK_INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":1,"error":"bad"}', 'SARK_INVALID_REQUEST'],
    ['[{"jsonrpc":"2.0","id":1,"method":"x"}, 5]', 'SARK_INVALID_REQUEST'],
  ])('%s → %s', (body, code) => {
    expect(codeOf(body)).toBe(code);
  });

  it('builds error responses', () => {
    expect(JSON.parse(errorResponse(3, -32600, 'no'))).toEqual({
      jsonrpc: '2.0',
      id: 3,
      error: { code: -32600, message: 'no' },
    });
    expect(JSON.parse(errorResponse(null, -1, 'm', { a: 1 })).error.data).toEqual({ a: 1 });
  });
});
