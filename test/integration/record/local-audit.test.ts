/**
 * The local audit file on real file systems: rotation by size with a bounded
 * number of files, a destination that cannot be written refused at start-up,
 * and a full disk (a 64 KiB tmpfs, when this machine lets us mount one) that
 * costs counted events — never an exception — and recovers by itself once
 * there is room again. test/e2e/cli.test.ts drives the same through `sark
 * serve` under a file size limit, where requests must still be served.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type AuditMetrics, createAuditMetrics } from '../../../src/observe/metrics.ts';
import type { AuditRecorder } from '../../../src/record/audit.ts';
import { createAuditFileRecorder } from '../../../src/record/local.ts';
import { auditEvent, memoryLogger, until } from '../../support/audit-events.ts';

const turn = () => new Promise((r) => setImmediate(r));

async function count(metrics: AuditMetrics, name: keyof AuditMetrics, labels: Record<string, string>) {
  const m = await (
    metrics[name] as { get(): Promise<{ values: { labels: Record<string, string>; value: number }[] }> }
  ).get();
  return m.values
    .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
    .reduce((sum, v) => sum + v.value, 0);
}

function lines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
}

let dir: string;
let recorder: AuditRecorder | undefined;
afterEach(async () => {
  await recorder?.close();
  recorder = undefined;
});

describe('audit file', () => {
  dir = mkdtempSync(join(tmpdir(), 'sark-local-audit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rotates by size and keeps a bounded number of files', async () => {
    const metrics = createAuditMetrics(new Registry());
    const path = join(dir, 'rotate', 'audit.ndjson');
    mkdirSync(join(dir, 'rotate'));
    const maxBytes = 8 * 1024;
    recorder = await createAuditFileRecorder({ path, maxBytes, maxFiles: 2 }, metrics, undefined);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const e = auditEvent();
      ids.push(e.request_id);
      recorder.record(e);
      await turn();
    }
    await recorder.close();
    recorder = undefined;

    expect(readdirSync(join(dir, 'rotate')).sort()).toEqual(['audit.ndjson', 'audit.ndjson.1', 'audit.ndjson.2']);
    const eventBytes = JSON.stringify(auditEvent()).length + 1;
    for (const f of ['audit.ndjson', 'audit.ndjson.1', 'audit.ndjson.2']) {
      expect(statSync(join(dir, 'rotate', f)).size).toBeLessThan(maxBytes + 4096 + eventBytes);
    }
    // Oldest first: .2, .1, then the live file; what is kept is the newest events, in order.
    const kept = ['audit.ndjson.2', 'audit.ndjson.1', 'audit.ndjson'].flatMap((f) =>
      lines(join(dir, 'rotate', f)).map((l) => JSON.parse(l).request_id as string),
    );
    expect(kept.length).toBeGreaterThan(20);
    expect(kept).toEqual(ids.slice(-kept.length));
    expect(await count(metrics, 'sent', { sink: 'file' })).toBe(300);
    expect(await count(metrics, 'dropped', { sink: 'file' })).toBe(0);
  });

  it('events recorded together share a write that leaves on its own within moments, before any close', async () => {
    const path = join(dir, 'batched.ndjson');
    recorder = await createAuditFileRecorder({ path, maxBytes: 0, maxFiles: 1 }, undefined, undefined);
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const e = auditEvent();
      ids.push(e.request_id);
      recorder.record(e);
    }
    expect(lines(path)).toEqual([]); // nothing is written per event
    await until('the batch is written', () => lines(path).length === 200, 2000);
    expect(lines(path).map((l) => (JSON.parse(l) as { request_id: string }).request_id)).toEqual(ids);
  });

  it('refuses a destination it cannot write at start-up, naming the field', async () => {
    await expect(
      createAuditFileRecorder(
        { path: join(dir, 'no-such-dir', 'a.ndjson'), maxBytes: 0, maxFiles: 1 },
        undefined,
        undefined,
      ),
    ).rejects.toMatchObject({
      code: 'SARK_CONFIG_INVALID',
      message: expect.stringMatching(/auditFile \(.*no-such-dir.*\): cannot be written/),
    });
    await expect(
      createAuditFileRecorder({ path: dir, maxBytes: 0, maxFiles: 1 }, undefined, undefined),
    ).rejects.toThrow(/auditFile .*EISDIR/);
  });
});

/** A 64 KiB tmpfs, or undefined where mounting is not allowed (not root, no CAP_SYS_ADMIN). */
function tinyDisk(): string | undefined {
  const mnt = mkdtempSync(join(tmpdir(), 'sark-tiny-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
    return mnt;
  } catch {
    rmSync(mnt, { recursive: true, force: true });
    return undefined;
  }
}

const disk = tinyDisk();

describe.skipIf(disk === undefined)('audit file on a full disk (64 KiB tmpfs)', () => {
  afterAll(() => {
    execFileSync('umount', [disk!]);
    rmSync(disk!, { recursive: true, force: true });
  });

  it('counts the events a full disk costs, never throws, and resumes once there is room', async () => {
    const metrics = createAuditMetrics(new Registry());
    const { logger, lines: logged } = memoryLogger();
    const path = join(disk!, 'audit.ndjson');
    recorder = await createAuditFileRecorder({ path, maxBytes: 0, maxFiles: 1 }, metrics, logger);
    const big = () => auditEvent({ args_redacted: 'x'.repeat(1000) });
    for (let i = 0; i < 150; i++) {
      recorder.record(big());
      await turn();
    }
    await until('every event written or dropped', async () => {
      const done =
        (await count(metrics, 'sent', { sink: 'file' })) + (await count(metrics, 'dropped', { sink: 'file' }));
      return done === 150;
    });
    const dropped = await count(metrics, 'dropped', { sink: 'file', reason: 'disk_full' });
    expect(dropped).toBeGreaterThan(50);
    expect(logged.some((l) => l.reason === 'disk_full')).toBe(true);

    // Room again: the destination is reopened (with backoff) and events are written.
    rmSync(path);
    const marker = auditEvent({ tool: 'after_recovery' });
    await until('written after recovery', async () => {
      recorder!.record(auditEvent());
      await new Promise((r) => setTimeout(r, 50));
      return lines(path).length > 0;
    });
    recorder.record(marker);
    await recorder.close();
    recorder = undefined;
    const after = lines(path).map((l) => JSON.parse(l));
    expect(after.at(-1)).toMatchObject({ request_id: marker.request_id });
  });

  it('with rotation the same writes fit in the same disk', async () => {
    const metrics = createAuditMetrics(new Registry());
    const path = join(disk!, 'rotated.ndjson');
    for (const f of readdirSync(disk!)) rmSync(join(disk!, f));
    recorder = await createAuditFileRecorder({ path, maxBytes: 12 * 1024, maxFiles: 3 }, metrics, undefined);
    for (let i = 0; i < 150; i++) {
      recorder.record(auditEvent({ args_redacted: 'x'.repeat(1000) }));
      await turn();
    }
    await recorder.close();
    recorder = undefined;
    expect(await count(metrics, 'sent', { sink: 'file' })).toBe(150);
    expect(await count(metrics, 'dropped', { sink: 'file' })).toBe(0);
    expect(readdirSync(disk!).sort()).toEqual([
      'rotated.ndjson',
      'rotated.ndjson.1',
      'rotated.ndjson.2',
      'rotated.ndjson.3',
    ]);
  });
});
