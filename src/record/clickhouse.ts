/**
 * The ClickHouse sink: JSONEachRow inserts through @clickhouse/client. A row
 * is the audit event plus `ts` (DateTime, unix seconds: ClickHouse 18.16 has no
 * DateTime64) and booleans as UInt8. The table is a ReplacingMergeTree keyed on
 * request id (deploy/clickhouse/migrations), so a replayed batch collapses into
 * the rows it repeats; read with FINAL or uniqExact(request_id).
 */
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { ConfigError } from '../errors.ts';
import type { AuditSink } from './channel.ts';
import type { AuditEvent } from './event.ts';

export interface ClickHouseSinkOptions {
  readonly url: string;
  readonly database: string;
  readonly table: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly requestTimeoutMs: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function assertIdentifier(what: string, value: string): string {
  if (!IDENTIFIER.test(value)) throw new ConfigError(`${what} "${value}" is not a plain ClickHouse identifier`);
  return value;
}

export function clickHouseClient(options: Omit<ClickHouseSinkOptions, 'table'>): ClickHouseClient {
  return createClient({
    url: options.url,
    database: options.database,
    username: options.username ?? 'default',
    password: options.password ?? '',
    request_timeout: options.requestTimeoutMs,
    max_open_connections: 4,
    application: 'sark',
    // The channel logs sink failures once, structured; the client's own console logging would repeat them.
    log: { level: ClickHouseLogLevel.OFF },
  });
}

export function toRow(e: AuditEvent): Record<string, unknown> {
  return { ...e, ts: Math.floor(e.ts_ms / 1000), cache_hit: e.cache_hit ? 1 : 0 };
}

export function createClickHouseSink(options: ClickHouseSinkOptions): AuditSink {
  const table = `${assertIdentifier('database', options.database)}.${assertIdentifier('table', options.table)}`;
  const client = clickHouseClient(options);
  return {
    name: 'clickhouse',
    async send(events, signal) {
      await client.insert({
        table,
        values: events.map(toRow),
        format: 'JSONEachRow',
        abort_signal: signal,
        // Rows written by a newer SARK (more fields) still load into an older table.
        clickhouse_settings: { input_format_skip_unknown_fields: 1 },
      });
    },
    close: () => client.close(),
  };
}
