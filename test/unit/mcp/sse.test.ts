import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSseEvent, SseSplitter, serializeSseEvent } from '../../../src/mcp/sse.ts';

describe('SSE framing', () => {
  it('splits events across any chunking, with every line ending (property)', () => {
    const events = ['event: message\ndata: {"a":1}\n\n', 'id: 4\r\ndata: x\r\n\r\n', ': comment\rdata: é😀\r\r'];
    const stream = Buffer.from(events.join(''));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 8 }), (cuts) => {
        const s = new SseSplitter();
        const got: string[] = [];
        let at = 0;
        for (const c of [...new Set(cuts)].sort((a, b) => a - b)) {
          got.push(...s.push(stream.subarray(at, c)));
          at = c;
        }
        got.push(...s.push(stream.subarray(at)));
        expect(got).toEqual(events);
        expect(s.rest()).toBe('');
      }),
    );
  });

  it('parses fields and multi-line data, and round-trips', () => {
    const e = parseSseEvent('id: 7\nevent: message\nretry: 10\ndata: line1\ndata:line2\n: c\n\n');
    expect(e).toEqual({ id: '7', event: 'message', retry: '10', data: 'line1\nline2' });
    expect(parseSseEvent(serializeSseEvent(e))).toEqual(e);
    expect(parseSseEvent(': keep-alive\n\n').data).toBeUndefined();
  });
});
