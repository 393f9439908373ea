/**
 * The audit pipeline against a real ClickHouse 18.16: migrations, rows written
 * through the sidecar, and no loss or double counting when ClickHouse is
 * killed, frozen, or the recorder is closed under load.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../../src/cli/migrate.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { createAuditMetrics } from '../../../src/observe/metrics.ts';
import type { AuditRecorder } from '../../../src/record/audit.ts';
import { clickHouseClient } from '../../../src/record/clickhouse.ts';
import { createAuditRecorder } from '../../../src/record/recorder.ts';
import type { Sidecar } from '../../../src/sidecar.ts';
import { auditEvent, memoryLogger, until } from '../../support/audit-events.ts';
import { type Service, startClickHouse } from '../../support/services.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';

let ch: Service;
let client: ClickHouseClient;
const dirs: string[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sark-audit-it-'));
  dirs.push(d);
  return d;
}

async function runMigrate(): Promise<string> {
  let out = '';
  const sink = new Writable({
    write(c, _e, cb) {
      out += String(c);
      cb();
    },
  });
  expect(await migrateCommand(['--audit-clickhouse-url', ch.url], sink)).toBe(0);
  return out;
}

async function rows<T>(query: string): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

async function distinctIds(table: string, ids: string[]): Promise<number> {
  const [r] = await rows<{ n: string }>(
    `SELECT uniqExact(request_id) AS n FROM sark.${table} WHERE agent_id = '${ids[0]}'`,
  );
  return Number(r?.n ?? 0);
}

const registry = new Registry();
const auditMetrics = createAuditMetrics(registry);

async function metric(name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return ((m?.values ?? []) as { value: number }[]).reduce((n, v) => n + v.value, 0);
}

async function recorder(table: string, spoolDir: string, extra: string[] = []): Promise<AuditRecorder> {
  const config = loadConfig({
    argv: [
      '--audit-clickhouse-url',
      ch.url,
      '--audit-clickhouse-table',
      table,
      '--audit-spool-dir',
      spoolDir,
      '--audit-flush-interval-ms',
      '50',
      '--audit-batch-size',
      '500',
      '--audit-send-timeout-ms',
      '2000',
      ...extra,
    ],
    env: {},
  });
  return createAuditRecorder(config, auditMetrics, memoryLogger().logger);
}

/** A separate table per test (same schema), so counts never mix. */
async function freshTable(name: string): Promise<void> {
  await client.command({ query: `CREATE TABLE IF NOT EXISTS sark.${name} AS sark.audit_events` });
}

beforeAll(async () => {
  ch = await startClickHouse();
  client = clickHouseClient({ url: ch.url, database: 'default', requestTimeoutMs: 30_000 });
}, 90_000);

afterAll(async () => {
  await client?.close();
  await ch?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('sark migrate', () => {
  it('creates the schema on 18.16, skips newer-server migrations, and changes nothing the second time', async () => {
    const first = await runMigrate();
    expect(first).toMatch(/001_audit_events: applied/);
    expect(first).toMatch(/002_audit_events_ttl: skipped \(needs ClickHouse >= 19\.6, server is 18\.16/);
    const snapshot = async () => ({
      create: await rows<{ statement: string }>('SHOW CREATE TABLE sark.audit_events'),
      columns: await rows("SELECT name, type FROM system.columns WHERE database = 'sark' ORDER BY table, name"),
      tables: await rows("SELECT name, engine FROM system.tables WHERE database = 'sark' ORDER BY name"),
      migrations: await rows(
        'SELECT version, name, status, checksum FROM sark.sark_schema_migrations ORDER BY version',
      ),
    });
    const before = await snapshot();
    const second = await runMigrate();
    expect(second).toMatch(/001_audit_events: already applied/);
    expect(second).toMatch(/002_audit_events_ttl: already skipped/);
    expect(second.trim().endsWith('no changes')).toBe(true);
    expect(await snapshot()).toEqual(before);
    expect(before.migrations.map((m: any) => m.status)).toEqual([
      'applied',
      'skipped',
      'skipped',
      'skipped',
      'skipped',
      'applied',
    ]);
  });

  it('an ADD COLUMN migration interrupted before it was recorded can be run again', async () => {
    // As if the process died between the ALTER and the migration record.
    await client.command({ query: 'ALTER TABLE sark.sark_schema_migrations DELETE WHERE version = 6' });
    await until(
      'the record to be gone',
      async () => (await rows('SELECT 1 FROM sark.sark_schema_migrations WHERE version = 6')).length === 0,
    );
    const again = await runMigrate();
    expect(again).toMatch(/006_audit_events_request_links: applied/);
    const cols = await rows<{ name: string }>(
      "SELECT name FROM system.columns WHERE database = 'sark' AND table = 'audit_events' AND name IN ('http_request_id', 'message_index', 'implied_by') ORDER BY name",
    );
    expect(cols.map((c) => c.name)).toEqual(['http_request_id', 'implied_by', 'message_index']);
  });
});

describe('ClickHouse audit sink', () => {
  let sidecar: Sidecar | undefined;
  afterAll(async () => {
    await sidecar?.close();
  });

  it('N decisions through the sidecar become N rows with the event fields', async () => {
    const N = 60;
    sidecar = await startTestSidecar([
      '--audit-clickhouse-url',
      ch.url,
      '--audit-spool-dir',
      tempDir(),
      '--audit-flush-interval-ms',
      '50',
      '--audit-file',
      'off',
    ]);
    const url = sidecar.mcpUrl;
    const call = (id: number, name: string, args: Record<string, unknown>, trace: string) =>
      rawPost(url, JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }), {
        traceparent: `00-${trace}-00f067aa0ba902b7-01`,
      });
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    for (let i = 0; i < N; i++) {
      await call(i, i % 3 === 0 ? 'delete_file' : 'echo', { text: `m${i}`, password: 'p' }, trace);
    }
    // The same call three times: the policy's decision is cached after the first.
    const repeatTrace = '5bf92f3577b34da6a3ce929d0e0e4736';
    for (let i = 0; i < 3; i++) await call(i, 'echo', { text: 'same' }, repeatTrace);
    await sidecar.close(); // flushes the queue within the grace period
    sidecar = undefined;
    const repeated = await rows<any>(
      `SELECT cache_hit, policy_revision FROM sark.audit_events FINAL WHERE trace_id = '${repeatTrace}' ORDER BY ts_ms`,
    );
    expect(repeated.map((r) => r.cache_hit)).toEqual([0, 1, 1]);
    const got = await rows<any>(`SELECT * FROM sark.audit_events FINAL WHERE trace_id = '${trace}' ORDER BY ts_ms`);
    expect(got).toHaveLength(N);
    expect(new Set(got.map((r) => r.request_id)).size).toBe(N);
    // The embedded policy's revision is its build digest; every decision names it.
    expect(new Set([...got, ...repeated].map((r) => r.policy_revision))).toEqual(
      new Set([expect.stringMatching(/^embedded:[0-9a-f]{12}$/)]),
    );
    const denied = got.filter((r) => r.tool === 'delete_file');
    expect(denied).toHaveLength(N / 3);
    for (const r of denied) {
      expect(r.decision).toBe('deny');
      expect(r.upstream_status).toBeNull();
      expect(r.reasons.length).toBeGreaterThan(0);
    }
    for (const r of got.filter((x) => x.tool === 'echo')) {
      expect(r.decision).toBe('allow');
      expect(r.upstream_status).toBeGreaterThanOrEqual(200);
      expect(r.upstream_ms).not.toBeNull();
      expect(r.total_ms).toBeGreaterThanOrEqual(r.policy_ms);
    }
    for (const r of got) {
      expect(r.schema_version).toBe(3);
      expect(r.http_request_id).toBe(r.request_id);
      expect(r.message_index).toBe(0);
      expect(r.implied_by).toBeNull();
      expect(r.method).toBe('tools/call');
      expect(r.args_digest).toMatch(/^[0-9a-f]{64}$/);
      // The policy asks for full audit when arguments carry secret-looking keys:
      // the arguments are recorded, with the secret redacted.
      if (r.args_redacted !== null) {
        expect(r.args_redacted).not.toContain('"p"');
        expect(JSON.parse(r.args_redacted).password).toMatch(/redacted/i);
      }
      expect(Number(r.ts_ms)).toBeGreaterThan(0);
    }
  }, 60_000);

  it('ClickHouse killed mid-run and restarted: exactly N distinct request ids after replay', async () => {
    await freshTable('audit_kill');
    const agent = 'kill-run';
    const rec = await recorder('audit_kill', tempDir());
    const ids: string[] = [agent];
    const emit = async (n: number) => {
      for (let i = 0; i < n; i++) {
        rec.record(auditEvent({ agent_id: agent }));
        if (i % 100 === 99) await new Promise((r) => setImmediate(r));
      }
    };
    await emit(2000);
    await until('first rows', async () => (await distinctIds('audit_kill', ids)) > 0);
    await ch.kill();
    const spilledBefore = await metric('sark_audit_events_spilled_total');
    await emit(2000); // spilled while ClickHouse is down
    await until('spilled while down', async () => (await metric('sark_audit_events_spilled_total')) > spilledBefore);
    await ch.restart();
    await emit(1000);
    const N = 5000;
    await until('all rows after replay', async () => (await distinctIds('audit_kill', ids)) === N, 60_000);
    await rec.close();
    await client.command({ query: 'OPTIMIZE TABLE sark.audit_kill FINAL' });
    const [final] = await rows<{ n: string }>('SELECT count() AS n FROM sark.audit_kill FINAL');
    expect(Number(final?.n)).toBe(N);
    expect(await distinctIds('audit_kill', ids)).toBe(N);
    expect(await metric('sark_audit_events_replayed_total')).toBeGreaterThan(0);
  }, 120_000);

  it('closed under load with ClickHouse frozen: a new recorder on the same spool delivers everything', async () => {
    await freshTable('audit_close');
    const agent = 'close-run';
    const spool = tempDir();
    const first = await recorder('audit_close', spool, [
      '--audit-close-grace-ms',
      '500',
      '--audit-send-timeout-ms',
      '10000',
    ]);
    for (let i = 0; i < 10_000; i++) {
      first.record(auditEvent({ agent_id: agent }));
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    ch.freeze(); // in-flight and later inserts hang
    for (let i = 0; i < 5_000; i++) first.record(auditEvent({ agent_id: agent }));
    const spilledBefore = await metric('sark_audit_events_spilled_total');
    const started = Date.now();
    await first.close(); // grace period over: in-flight aborted, the rest spilled
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await metric('sark_audit_events_spilled_total')).toBeGreaterThan(spilledBefore);
    ch.thaw();
    const second = await recorder('audit_close', spool);
    try {
      await until('everything replayed', async () => (await distinctIds('audit_close', [agent])) === 15_000, 60_000);
    } finally {
      await second.close();
    }
    await client.command({ query: 'OPTIMIZE TABLE sark.audit_close FINAL' });
    const [final] = await rows<{ n: string }>('SELECT count() AS n FROM sark.audit_close FINAL');
    expect(Number(final?.n)).toBe(15_000);
  }, 120_000);
});
