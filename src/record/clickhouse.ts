/**
 * The ClickHouse sink: JSONEachRow inserts through @clickhouse/client. A row
 * is the audit event plus `ts` (DateTime, unix seconds: ClickHouse 18.16 has no
 * DateTime64) and booleans as UInt8. The table is a ReplacingMergeTree keyed on
 * request id (deploy/clickhouse/migrations), so a replayed batch collapses into
 * the rows it repeats; read with FINAL or uniqExact(request_id).
 *
 * Each INSERT costs ClickHouse a new part and later merges: measured on 18.16,
 * ~25–50 ms of server CPU per insert against ~3 µs per row, so the channel
 * sends few large batches (docs/audit.md). Rows are encoded when recorded
 * (`encode`); a large batch is joined and written a slice of rows at a time,
 * yielding to the event loop between slices, so sending it never stalls the
 * requests SARK is serving.
 */
import { Readable } from 'node:stream';
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

/** One JSONEachRow row (no newline). */
export function encodeRow(e: AuditEvent): string {
  return JSON.stringify(toRow(e));
}

/** Rows joined per event-loop turn (~250 kB). */
export const ROWS_PER_SLICE = 500;

/**
 * The batch as JSONEachRow text, ROWS_PER_SLICE rows per chunk, the next chunk
 * joined only after the event loop has run (setImmediate), when the socket
 * asks for more.
 */
export class JsonEachRowStream extends Readable {
  readonly #rows: readonly string[];
  #next = 0;
  #pending = false;

  constructor(rows: readonly string[]) {
    super({ highWaterMark: 64 * 1024 });
    this.#rows = rows;
  }

  override _read(): void {
    if (this.#pending) return;
    this.#pending = true;
    setImmediate(() => {
      this.#pending = false;
      if (this.destroyed) return;
      const end = Math.min(this.#next + ROWS_PER_SLICE, this.#rows.length);
      let chunk = '';
      for (let i = this.#next; i < end; i++) chunk += `${this.#rows[i]!}\n`;
      this.#next = end;
      if (chunk) this.push(chunk);
      if (end === this.#rows.length) this.push(null);
    });
  }
}

export function createClickHouseSink(options: ClickHouseSinkOptions): AuditSink {
  const table = `${assertIdentifier('database', options.database)}.${assertIdentifier('table', options.table)}`;
  const client = clickHouseClient(options);
  const query = `INSERT INTO ${table} FORMAT JSONEachRow`;
  return {
    name: 'clickhouse',
    encode: encodeRow,
    async send(rows, signal) {
      if (rows.length === 0) return;
      const result = await client.exec({
        query,
        values: new JsonEachRowStream(rows),
        abort_signal: signal,
        // Rows written by a newer SARK (more fields) still load into an older table.
        clickhouse_settings: { input_format_skip_unknown_fields: 1 },
      });
      // exec resolves once ClickHouse has answered 200 (errors reject); the body is empty.
      result.stream.resume();
    },
    close: () => client.close(),
  };
}
