import { describe, expect, it } from 'vitest';
import { encodeRow, JsonEachRowStream, ROWS_PER_SLICE, toRow } from '../../../src/record/clickhouse.ts';
import { auditEvent } from '../../support/audit-events.ts';

async function collect(stream: JsonEachRowStream, onChunk: () => void = () => {}): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += chunk;
    onChunk();
  }
  return text;
}

describe('ClickHouse rows', () => {
  it('a row is the event with ts in unix seconds and the cache flag as UInt8', () => {
    const e = auditEvent({ ts_ms: 1_767_607_200_999, cache_hit: true });
    expect(toRow(e)).toEqual({ ...e, ts: 1_767_607_200, cache_hit: 1 });
    expect(toRow({ ...e, cache_hit: false }).cache_hit).toBe(0);
  });

  it('streams a batch as JSONEachRow, one line per event, in order', async () => {
    const events = Array.from({ length: 2 * ROWS_PER_SLICE + 7 }, (_, i) =>
      auditEvent({ request_id: `r-${i}`, args_redacted: i === 3 ? '{"text":"a\\nb"}' : null }),
    );
    const lines = (await collect(new JsonEachRowStream(events.map(encodeRow)))).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l))).toEqual(events.map(toRow));
    expect(await collect(new JsonEachRowStream([]))).toBe('');
  });

  it('encodes a slice per event-loop turn, so a large batch never holds the loop', async () => {
    const events = Array.from({ length: 20 * ROWS_PER_SLICE }, () => encodeRow(auditEvent()));
    let turns = 0;
    let spinning = true;
    const spin = () => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    let chunks = 0;
    let turnsSeen = -1;
    let sameTurn = 0;
    await collect(new JsonEachRowStream(events), () => {
      chunks++;
      if (turns === turnsSeen) sameTurn++;
      turnsSeen = turns;
    });
    spinning = false;
    expect(chunks).toBe(20);
    // Other work ran between (almost) every two slices.
    expect(sameTurn).toBeLessThanOrEqual(1);
    expect(turns).toBeGreaterThanOrEqual(19);
  });
});
