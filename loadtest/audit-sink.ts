/**
 * Sustained throughput of the ClickHouse audit sink, in rows/s, on a private
 * ClickHouse (test/support/services.ts) — and the cost of `record()` on the
 * request path. Writes loadtest/results/audit-sink.json.
 *
 *   npx node loadtest/audit-sink.ts [--events 400000] [--batch-size 1000] [--rate 0]
 *
 * --rate 0 offers events as fast as the loop yields (saturation: the figure
 * is what the sink sustains); --rate N offers N events/s and reports whether
 * the sink kept up (nothing spilled or dropped).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { createAuditMetrics } from '../src/observe/metrics.ts';
import { AuditChannel } from '../src/record/channel.ts';
import { clickHouseClient, createClickHouseSink } from '../src/record/clickhouse.ts';
import type { AuditEvent } from '../src/record/event.ts';
import { migrate } from '../src/record/migrations.ts';
import { AuditSpool } from '../src/record/spool.ts';
import { auditEvent, memoryLogger } from '../test/support/audit-events.ts';
import { startClickHouse } from '../test/support/services.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '400000' },
    'batch-size': { type: 'string', default: '1000' },
    rate: { type: 'string', default: '0' },
  },
});
const EVENTS = Number(values.events);
const BATCH = Number(values['batch-size']);
const RATE = Number(values.rate);

const ch = await startClickHouse();
const spoolDir = mkdtempSync(join(tmpdir(), 'sark-bench-spool-'));
try {
  const admin = clickHouseClient({ url: ch.url, database: 'default', requestTimeoutMs: 60_000 });
  await migrate({ client: admin, database: 'sark', table: 'audit_events' });
  const registry = new Registry();
  const metrics = createAuditMetrics(registry);
  const channel = new AuditChannel({
    sink: createClickHouseSink({ url: ch.url, database: 'sark', table: 'audit_events', requestTimeoutMs: 30_000 }),
    spool: await AuditSpool.open<AuditEvent>({ dir: spoolDir, maxBytes: 4 * 1024 ** 3, fsync: 'interval' }),
    metrics,
    logger: memoryLogger().logger,
    batchSize: BATCH,
    flushIntervalMs: 200,
    maxQueueEvents: 1_000_000,
    sendTimeoutMs: 30_000,
  });

  // Events are prepared up front so the figure is the sink's, not the generator's.
  const events = Array.from({ length: EVENTS }, (_, i) =>
    auditEvent({ ts_ms: Date.now() + i, tool: `tool_${i % 20}` }),
  );
  const recordNs: number[] = [];
  const started = performance.now();
  const chunk = 500;
  for (let i = 0; i < EVENTS; i += chunk) {
    const t = process.hrtime.bigint();
    for (let j = i; j < Math.min(i + chunk, EVENTS); j++) channel.record(events[j]!);
    recordNs.push(Number(process.hrtime.bigint() - t) / Math.min(chunk, EVENTS - i));
    if (RATE > 0) {
      const due = started + ((i + chunk) / RATE) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    } else {
      await new Promise((r) => setImmediate(r));
    }
  }
  const offeredMs = performance.now() - started;
  if (!(await channel.drained(300_000))) throw new Error('the sink did not drain within 5 minutes');
  const elapsedMs = performance.now() - started;
  const rs = await admin.query({
    query: 'SELECT uniqExact(request_id) AS n FROM sark.audit_events',
    format: 'JSONEachRow',
  });
  const rows = Number(((await rs.json()) as { n: string }[])[0]?.n);
  const metric = async (name: string) =>
    (((await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? []) as { value: number }[]).reduce(
      (n, v) => n + v.value,
      0,
    );
  recordNs.sort((a, b) => a - b);
  const result = {
    benchmark: 'audit-sink (ClickHouse)',
    command: `npx node loadtest/audit-sink.ts --events ${EVENTS} --batch-size ${BATCH} --rate ${RATE}`,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    clickhouse: (
      (await (await admin.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json()) as { v: string }[]
    )[0]?.v,
    events: EVENTS,
    batchSize: BATCH,
    offeredRatePerSec: RATE || 'saturating',
    rowsInClickHouse: rows,
    elapsedSec: +(elapsedMs / 1000).toFixed(3),
    offeredSec: +(offeredMs / 1000).toFixed(3),
    rowsPerSec: Math.round(rows / (elapsedMs / 1000)),
    spilled: await metric('sark_audit_events_spilled_total'),
    dropped: await metric('sark_audit_events_dropped_total'),
    sinkErrors: await metric('sark_audit_sink_errors_total'),
    recordCallNs: {
      p50: Math.round(recordNs[Math.floor(recordNs.length * 0.5)]!),
      p99: Math.round(recordNs[Math.floor(recordNs.length * 0.99)]!),
    },
  };
  await channel.close(5000);
  await admin.close();
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/audit-sink.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await ch.stop();
  rmSync(spoolDir, { recursive: true, force: true });
}
