import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseStrictJson, StrictJsonError } from '../../../src/mcp/strict-json.ts';

function kindOf(input: string | Buffer, limits?: Parameters<typeof parseStrictJson>[1]): string | undefined {
  try {
    parseStrictJson(input, limits);
  } catch (err) {
    return err instanceof StrictJsonError ? err.kind : 'other';
  }
  return undefined;
}

describe('parseStrictJson', () => {
  it('parses what JSON.parse parses, for any JSON value without forbidden keys (property)', () => {
    const safeKey = fc.string().filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k));
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer(),
        fc.string({ unit: 'grapheme' }),
        fc.array(tie('value'), { maxLength: 5 }),
        fc.dictionary(safeKey, tie('value'), { maxKeys: 5 }),
      ),
    })).value;
    fc.assert(
      fc.property(json, fc.boolean(), (v, pretty) => {
        const text = JSON.stringify(v, null, pretty ? 2 : undefined);
        expect(parseStrictJson(Buffer.from(text))).toEqual(JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  it('never accepts what JSON.parse rejects, and never throws anything but StrictJsonError (property)', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        let native = true;
        try {
          JSON.parse(text);
        } catch {
          native = false;
        }
        const kind = kindOf(text);
        if (!native) expect(kind).toBeDefined();
        expect(kind).not.toBe('other');
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['{"a":1,"a":2}', 'duplicate_key'],
    ['{"x":{"a":1,"b":{"c":1,"c":1}}}', 'duplicate_key'],
    ['{"a":1,"\\u0061":2}', 'duplicate_key'],
    ['{"__proto__":{"admin":true}}', 'forbidden_key'],
    ['{"x":[{"constructor":{"prototype":{}}}]}', 'forbidden_key'],
    ['{"\\u005f_proto__":1}', 'forbidden_key'],
    ['"\\ud800"', 'encoding'],
    ['"\\udc00x"', 'encoding'],
    ['{"a":1,}', 'syntax'],
    ['[1,]', 'syntax'],
    ['// c\n{}', 'syntax'],
    ['{"a":01}', 'syntax'],
    ['NaN', 'syntax'],
    ['{"a":1} x', 'syntax'],
    ['\ufeff{}', 'syntax'],
    ['"a\tb"', 'syntax'],
    ['1e999', 'limit'],
  ])('%s → %s', (text, kind) => {
    expect(kindOf(text)).toBe(kind);
  });

  it('refuses invalid UTF-8 bytes', () => {
    expect(kindOf(Buffer.from([0x22, 0xc3, 0x28, 0x22]))).toBe('encoding');
    expect(kindOf(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))).toBe('encoding'); // CESU surrogate
    expect(parseStrictJson(Buffer.from('"é😀"'))).toBe('é😀');
  });

  it('enforces depth, string, array and key limits', () => {
    const limits = { maxDepth: 3, maxStringLength: 5, maxArrayLength: 3, maxKeys: 2 };
    expect(kindOf('[[[1]]]', limits)).toBeUndefined();
    expect(kindOf('[[[[1]]]]', limits)).toBe('limit');
    expect(kindOf('"123456"', limits)).toBe('limit');
    expect(kindOf('[1,2,3,4]', limits)).toBe('limit');
    expect(kindOf('{"a":1,"b":2,"c":3}', limits)).toBe('limit');
    expect(kindOf(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toBe('limit');
  });
});
