import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuditMetrics } from '../../../src/observe/metrics.ts';
import { AuditChannel, type AuditSink } from '../../../src/record/channel.ts';
import type { AuditEvent } from '../../../src/record/event.ts';
import { AuditSpool } from '../../../src/record/spool.ts';
import { auditEvent, memoryLogger, until } from '../../support/audit-events.ts';
import { parseExposition, sumOf } from '../../support/metrics-text.ts';

/** A sink that can be down (throws) or hang (never answers until aborted). */
class FakeSink implements AuditSink {
  readonly name = 'fake';
  readonly batches: string[][] = [];
  mode: 'up' | 'down' | 'hang' = 'up';
  /** Time each send takes, like a round trip to a real sink. */
  latencyMs = 0;
  /** The request id stands for the event: what is delivered is easy to compare. */
  encode(e: AuditEvent): string {
    return e.request_id;
  }
  async send(lines: readonly string[], signal: AbortSignal): Promise<void> {
    if (this.mode === 'down') throw new Error('connection refused');
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (this.mode === 'hang') {
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    }
    this.batches.push([...lines]);
  }
  get delivered(): string[] {
    return this.batches.flat();
  }
  async close() {}
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function channel(
  sink: FakeSink,
  opts: { maxBytes?: number; batchSize?: number; maxQueueEvents?: number; dir?: string; flushIntervalMs?: number } = {},
) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sark-channel-'));
  if (!opts.dir) dirs.push(dir);
  const registry = new Registry();
  const metrics = createAuditMetrics(registry);
  const log = memoryLogger();
  const spool = await AuditSpool.open<string | AuditEvent>({ dir, maxBytes: opts.maxBytes ?? 1 << 24, fsync: 'never' });
  const ch = new AuditChannel({
    sink,
    spool,
    metrics,
    logger: log.logger,
    batchSize: opts.batchSize ?? 10,
    flushIntervalMs: opts.flushIntervalMs ?? 20,
    maxQueueEvents: opts.maxQueueEvents ?? 10_000,
    sendTimeoutMs: 200,
    backoffMinMs: 10,
    backoffMaxMs: 50,
    dropLogIntervalMs: 0,
  });
  const value = async (name: string, labels: Record<string, string> = { sink: 'fake' }) => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
    return (
      (m?.values as { value: number; labels: Record<string, string> }[] | undefined)
        ?.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
        .reduce((n, v) => n + v.value, 0) ?? 0
    );
  };
  return { ch, dir, value, log, registry };
}

describe('audit channel', () => {
  it('under steady load sends one batch per flush interval, not one per round trip', async () => {
    const sink = new FakeSink();
    sink.latencyMs = 15;
    const { ch } = await channel(sink, { batchSize: 100_000, flushIntervalMs: 200 });
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < 1_000) {
      ch.record(auditEvent());
      sent++;
      await new Promise((r) => setTimeout(r, 2));
    }
    await until('all delivered', () => sink.delivered.length === sent);
    // ~5 ticks in the second, plus the last partial flush; back-to-back sends would be ~60.
    expect(sink.batches.length).toBeLessThanOrEqual(8);
    await ch.close(100);
  });

  it("observes each event's delay from its event time to the sink's acknowledgement, live and replayed", async () => {
    const sink = new FakeSink();
    const { ch, dir, value, registry } = await channel(sink, { maxBytes: 1 << 20 });
    const at = (agoMs: number) => ({ ...auditEvent(), ts_ms: Date.now() - agoMs });
    for (let i = 0; i < 10; i++) ch.record(at(0));
    await until('live batch', () => sink.delivered.length === 10);
    sink.mode = 'down';
    // Decided two minutes ago (say, queued behind an outage): replayed later, still two minutes late or more.
    for (let i = 0; i < 10; i++) ch.record(at(120_000));
    await until('spilled', async () => (await value('sark_audit_events_spilled_total')) === 10);
    const spooled = readdirSync(dir).find((f) => f.endsWith('.ndjson'))!;
    const first = JSON.parse(readFileSync(join(dir, spooled), 'utf8').split('\n')[0]!) as [number, string];
    expect(first).toEqual([expect.any(Number), expect.any(String)]);
    sink.mode = 'up';
    await until('replayed', () => sink.delivered.length === 20);
    // A replayed batch's delays are observed once the spool has acknowledged it, after the sink took it.
    const delays = async () =>
      sumOf(parseExposition(await registry.metrics()), 'sark_audit_delay_seconds_count', { sink: 'fake' });
    await until('replay acknowledged', async () => (await delays()) === 20);
    const m = parseExposition(await registry.metrics());
    expect(sumOf(m, 'sark_audit_delay_seconds_count', { sink: 'fake' })).toBe(20);
    // Ten live events well under a second, ten replayed ones over 60 s.
    expect(sumOf(m, 'sark_audit_delay_seconds_bucket', { sink: 'fake', le: '1' })).toBe(10);
    expect(sumOf(m, 'sark_audit_delay_seconds_bucket', { sink: 'fake', le: '60' })).toBe(10);
    expect(sumOf(m, 'sark_audit_delay_seconds_bucket', { sink: 'fake', le: '300' })).toBe(20);
    expect(await value('sark_audit_spool_max_bytes')).toBe(1 << 20);
    await ch.close(1000);
  });

  it('sends full batches by size and the rest by time', async () => {
    const sink = new FakeSink();
    const { ch, value } = await channel(sink);
    const ids = Array.from({ length: 25 }, () => auditEvent()).map((e) => {
      ch.record(e);
      return e.request_id;
    });
    await until('all delivered', () => sink.delivered.length === 25);
    expect(sink.delivered).toEqual(ids);
    expect(sink.batches[0]).toHaveLength(10);
    expect(await value('sark_audit_events_sent_total')).toBe(25);
    await ch.close(1000);
  });

  it('spills while the sink is down and replays everything, in order, once it is back', async () => {
    const sink = new FakeSink();
    const { ch, value } = await channel(sink);
    const ids: string[] = [];
    const send = (n: number) => {
      for (let i = 0; i < n; i++) {
        const e = auditEvent();
        ids.push(e.request_id);
        ch.record(e);
      }
    };
    send(15);
    await until('first batches', () => sink.delivered.length === 15);
    sink.mode = 'down';
    send(40);
    await until('spilled', async () => (await value('sark_audit_events_spilled_total')) === 40);
    sink.mode = 'up';
    send(5);
    await until('replayed', () => sink.delivered.length === 60);
    expect(sink.delivered).toEqual(ids);
    // Counted once the spool has acknowledged the replayed batch, after the sink took it.
    await until('replay acknowledged', async () => (await value('sark_audit_events_replayed_total')) === 45);
    expect(await value('sark_audit_events_replayed_total')).toBe(45);
    expect(await value('sark_audit_sink_errors_total')).toBeGreaterThan(0);
    expect(await ch.drained(1000)).toBe(true);
    await ch.close(1000);
  });

  it('replays a spool written by an older version (event objects), encoding each for the sink', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sark-channel-'));
    dirs.push(dir);
    const old = await AuditSpool.open<AuditEvent>({ dir, maxBytes: 1 << 20, fsync: 'never' });
    const events = Array.from({ length: 12 }, () => auditEvent());
    await old.append(events);
    await old.close();
    const sink = new FakeSink();
    const { ch } = await channel(sink, { dir });
    await until('replayed', () => sink.delivered.length === 12);
    expect(sink.delivered).toEqual(events.map((e) => e.request_id));
    await ch.close(100);
  });

  it('drops what the full spool cannot take, counts it and logs it', async () => {
    const sink = new FakeSink();
    sink.mode = 'down';
    const { ch, value, log } = await channel(sink, { maxBytes: 1024 });
    for (let i = 0; i < 100; i++) ch.record(auditEvent());
    await until(
      'dropped',
      async () => (await value('sark_audit_events_dropped_total', { sink: 'fake', reason: 'spool_full' })) > 0,
    );
    await ch.close(100);
    const spilled = await value('sark_audit_events_spilled_total');
    const dropped = await value('sark_audit_events_dropped_total', { sink: 'fake', reason: 'spool_full' });
    expect(spilled + dropped).toBe(100);
    expect(log.lines.some((l) => l.level === 50 && String(l.msg).includes('dropped'))).toBe(true);
  });

  it('drops past the memory bound instead of growing, and never throws into the caller', async () => {
    const sink = new FakeSink();
    sink.mode = 'hang';
    const { ch, value } = await channel(sink, { maxQueueEvents: 100, batchSize: 1000 });
    for (let i = 0; i < 150; i++) expect(() => ch.record(auditEvent())).not.toThrow();
    expect(await value('sark_audit_events_dropped_total', { sink: 'fake', reason: 'queue_full' })).toBe(50);
    await ch.close(100);
  });

  it('on close, a hanging sink is abandoned at the grace period and the queue is spilled for the next start', async () => {
    const sink = new FakeSink();
    sink.mode = 'hang';
    const { ch, dir } = await channel(sink, { batchSize: 5 });
    const ids = Array.from({ length: 23 }, () => auditEvent()).map((e) => {
      ch.record(e);
      return e.request_id;
    });
    const started = Date.now();
    await ch.close(150);
    expect(Date.now() - started).toBeLessThan(2000);

    const next = new FakeSink();
    const { ch: again } = await channel(next, { dir, batchSize: 5 });
    await until('replayed after restart', () => next.delivered.length === 23);
    expect(next.delivered).toEqual(ids);
    await again.close(1000);
  });
});
