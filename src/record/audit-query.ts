/**
 * Reads the audit store back for the decision API's /audit: the rows of the
 * ClickHouse audit table, newest first, filtered, a page at a time with an
 * opaque cursor (the last row's decision time and request id). ClickHouse
 * 18.16 has no query parameters, so every value that reaches SQL is first
 * validated to a plain token (decision-api-schemas.ts) and then quoted here.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { SarkError } from '../errors.ts';
import { assertIdentifier } from './clickhouse.ts';

export interface AuditFilter {
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  readonly agent?: string | undefined;
  readonly server?: string | undefined;
  readonly tool?: string | undefined;
  readonly decision?: 'allow' | 'deny' | undefined;
  readonly reason?: string | undefined;
  readonly limit: number;
  readonly cursor?: string | undefined;
}

export interface AuditPage {
  readonly rows: Record<string, unknown>[];
  readonly next_cursor: string | null;
}

const TOKEN = /^[A-Za-z0-9._:@/+#-]{1,300}$/;

/** A SQL string literal of a value already validated to a plain token (no quotes, no backslashes). */
function lit(v: string): string {
  if (!TOKEN.test(v))
    throw new SarkError('SARK_INVALID_REQUEST', { publicDetail: 'a filter value is not a plain token' });
  return `'${v}'`;
}

export function encodeCursor(tsMs: number, requestId: string): string {
  return Buffer.from(`${tsMs} ${requestId}`).toString('base64url');
}

export function decodeCursor(cursor: string): { tsMs: number; requestId: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^(\d{1,16}) ([A-Za-z0-9._:@/+#-]{1,300})$/.exec(text);
  if (!m)
    throw new SarkError('SARK_INVALID_REQUEST', {
      publicDetail: 'cursor: not a cursor this API returned',
      data: { field: 'cursor' },
    });
  return { tsMs: Number(m[1]), requestId: m[2]! };
}

/** The SELECT for a page (exported for its unit test). */
export function auditSql(table: string, f: AuditFilter): string {
  const where: string[] = [];
  if (f.from !== undefined) where.push(`ts >= toDateTime(${Math.floor(f.from / 1000)})`, `ts_ms >= ${f.from}`);
  if (f.to !== undefined) where.push(`ts <= toDateTime(${Math.ceil(f.to / 1000)})`, `ts_ms < ${f.to}`);
  if (f.agent !== undefined) where.push(`agent_id = ${lit(f.agent)}`);
  if (f.server !== undefined) where.push(`server_id = ${lit(f.server)}`);
  if (f.tool !== undefined) where.push(`tool = ${lit(f.tool)}`);
  if (f.decision !== undefined) where.push(`decision = ${lit(f.decision)}`);
  if (f.reason !== undefined) where.push(`has(reasons, ${lit(f.reason)})`);
  if (f.cursor !== undefined) {
    const c = decodeCursor(f.cursor);
    where.push(`(ts_ms < ${c.tsMs} OR (ts_ms = ${c.tsMs} AND request_id < ${lit(c.requestId)}))`);
  }
  return (
    `SELECT * FROM ${table} FINAL` +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY ts_ms DESC, request_id DESC LIMIT ${f.limit + 1}`
  );
}

export class AuditReader {
  readonly #client: ClickHouseClient;
  readonly #table: string;
  readonly #timeoutMs: number;

  constructor(client: ClickHouseClient, database: string, table: string, timeoutMs: number) {
    this.#client = client;
    this.#table = `${assertIdentifier('database', database)}.${assertIdentifier('table', table)}`;
    this.#timeoutMs = timeoutMs;
  }

  async page(f: AuditFilter): Promise<AuditPage> {
    const query = auditSql(this.#table, f);
    let rows: Record<string, unknown>[];
    try {
      const rs = await this.#client.query({
        query,
        format: 'JSONEachRow',
        abort_signal: AbortSignal.timeout(this.#timeoutMs),
      });
      rows = await rs.json<Record<string, unknown>>();
    } catch (err) {
      throw new SarkError('SARK_AUDIT_UNAVAILABLE', { detail: (err as Error).message, cause: err });
    }
    const more = rows.length > f.limit;
    if (more) rows = rows.slice(0, f.limit);
    const last = rows.at(-1);
    return {
      rows,
      next_cursor: more && last ? encodeCursor(Number(last.ts_ms), String(last.request_id)) : null,
    };
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}
