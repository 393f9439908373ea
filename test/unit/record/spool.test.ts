import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditSpool } from '../../../src/record/spool.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sark-spool-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function drain(spool: AuditSpool<{ n: number }>, max = 3): Promise<number[]> {
  const out: number[] = [];
  for (let b = await spool.read(max); b; b = await spool.read(max)) {
    out.push(...b.items.map((i) => i.n));
    await spool.ack(b);
  }
  return out;
}

describe('audit spool', () => {
  it('replays batches in the order they were written, across segments, and deletes delivered segments', async () => {
    const dir = tempDir();
    const spool = await AuditSpool.open<{ n: number }>({ dir, maxBytes: 1 << 20, segmentBytes: 40, fsync: 'always' });
    for (let i = 0; i < 10; i += 2) expect(await spool.append([{ n: i }, { n: i + 1 }])).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson')).length).toBeGreaterThan(1);
    expect(await drain(spool)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(spool.pending).toBe(false);
    expect(spool.bytes).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
    await spool.close();
  });

  it('returns the same batch until it is acknowledged', async () => {
    const spool = await AuditSpool.open<{ n: number }>({ dir: tempDir(), maxBytes: 1 << 20, fsync: 'never' });
    await spool.append([{ n: 1 }, { n: 2 }]);
    const a = await spool.read(10);
    const b = await spool.read(10);
    expect(b?.items).toEqual(a?.items);
    await spool.ack(b!);
    expect(await spool.read(10)).toBeUndefined();
    await spool.close();
  });

  it('refuses an append past the size cap and writes nothing of it', async () => {
    const spool = await AuditSpool.open<{ n: number }>({ dir: tempDir(), maxBytes: 20, fsync: 'never' });
    expect(await spool.append([{ n: 1 }])).toBe(true); // 8 bytes
    expect(await spool.append([{ n: 2 }, { n: 3 }])).toBe(false); // 16 more would pass 20
    expect(await drain(spool)).toEqual([1]);
    await spool.close();
  });

  it('a reopened spool resumes after the last acknowledged batch', async () => {
    const dir = tempDir();
    const first = await AuditSpool.open<{ n: number }>({ dir, maxBytes: 1 << 20, fsync: 'interval' });
    await first.append([1, 2, 3, 4, 5].map((n) => ({ n })));
    const batch = await first.read(2);
    await first.ack(batch!);
    await first.close();
    const second = await AuditSpool.open<{ n: number }>({ dir, maxBytes: 1 << 20, fsync: 'interval' });
    expect(second.pending).toBe(true);
    expect(await drain(second)).toEqual([3, 4, 5]);
    await second.append([{ n: 6 }]);
    expect(await drain(second)).toEqual([6]);
    await second.close();
  });

  it('skips a torn last line left by a crash and counts corrupt lines', async () => {
    const dir = tempDir();
    const spool = await AuditSpool.open<{ n: number }>({ dir, maxBytes: 1 << 20, fsync: 'always' });
    await spool.append([{ n: 1 }]);
    await spool.close();
    const seg = readdirSync(dir).find((f) => f.endsWith('.ndjson'))!;
    appendFileSync(join(dir, seg), 'not json\n{"n":2}\n{"n":');
    const again = await AuditSpool.open<{ n: number }>({ dir, maxBytes: 1 << 20, fsync: 'always' });
    const batch = await again.read(10);
    expect(batch?.items).toEqual([{ n: 1 }, { n: 2 }]);
    expect(batch?.corrupt).toBe(1);
    await again.ack(batch!);
    expect(again.pending).toBe(false);
    await again.close();
  });
});
