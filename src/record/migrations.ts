/**
 * ClickHouse schema migrations (deploy/clickhouse/migrations/NNN_name.sql),
 * applied in order and recorded in `<database>.sark_schema_migrations`.
 *
 * A file may start with `-- requires: X.Y` (the oldest server that has its
 * features); on an older server it is recorded as skipped with the server
 * version, and applied by a later run once the server is new enough. Every
 * statement is idempotent (IF NOT EXISTS, MODIFY, or an ADD COLUMN whose
 * "already exists" counts as done), so a run interrupted half
 * way can simply be run again. A second run on the same server changes nothing.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { assertIdentifier } from './clickhouse.ts';

// Beside the package (dist/record or src/record → deploy/), never the working directory.
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../deploy/clickhouse/migrations/', import.meta.url));
export const MIGRATIONS_TABLE = 'sark_schema_migrations';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly requires: readonly number[] | undefined;
  readonly statements: readonly string[];
  readonly checksum: string;
}

export type MigrationOutcome = 'applied' | 'skipped' | 'already_applied' | 'already_skipped';

export interface MigrationResult {
  readonly version: number;
  readonly name: string;
  readonly outcome: MigrationOutcome;
  readonly detail?: string;
}

export interface MigrateOptions {
  readonly client: ClickHouseClient;
  readonly database: string;
  readonly table: string;
  readonly dir?: string;
}

const FILE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

export function parseVersion(v: string): number[] {
  return v
    .trim()
    .split('.')
    .map((p) => Number.parseInt(p, 10))
    .filter((n) => Number.isFinite(n));
}

/** a >= b, comparing numeric version parts left to right. */
export function versionAtLeast(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

export function loadMigrations(dir: string, database: string, table: string): Migration[] {
  const vars: Record<string, string> = {
    database: assertIdentifier('database', database),
    table: assertIdentifier('table', table),
  };
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = FILE.exec(file);
    if (!m) continue;
    const text = readFileSync(join(dir, file), 'utf8');
    const requires = /^--\s*requires:\s*([\d.]+)\s*$/m.exec(text)?.[1];
    const sql = text
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('--'))
      .join('\n')
      .replace(/\{(database|table)\}/g, (_, k: string) => vars[k]!);
    const statements = sql
      .split(/;\s*(?:\n|$)/)
      .map((s) => s.trim())
      .filter(Boolean);
    out.push({
      version: Number(m[1]),
      name: m[2]!,
      requires: requires ? parseVersion(requires) : undefined,
      statements,
      checksum: createHash('sha256').update(text).digest('hex'),
    });
  }
  return out;
}

interface Recorded {
  version: number;
  status: 'applied' | 'skipped';
  server_version: string;
}

export async function migrate(options: MigrateOptions): Promise<MigrationResult[]> {
  const { client } = options;
  const db = assertIdentifier('database', options.database);
  const migrations = loadMigrations(options.dir ?? MIGRATIONS_DIR, db, options.table);
  const serverVersion = await scalar(client, 'SELECT version() AS v');
  const server = parseVersion(serverVersion);

  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.${MIGRATIONS_TABLE} (
      version UInt32, name String, status Enum8('applied' = 1, 'skipped' = 2),
      checksum String, server_version String, applied_at DateTime
    ) ENGINE = MergeTree() ORDER BY (version, applied_at)`,
  });
  const rs = await client.query({
    query: `SELECT version, toString(status) AS status, server_version FROM ${db}.${MIGRATIONS_TABLE} ORDER BY applied_at`,
    format: 'JSONEachRow',
  });
  const recorded = await rs.json<Recorded>();

  const results: MigrationResult[] = [];
  for (const mig of migrations) {
    const rows = recorded.filter((r) => Number(r.version) === mig.version);
    if (rows.some((r) => r.status === 'applied')) {
      results.push({ version: mig.version, name: mig.name, outcome: 'already_applied' });
      continue;
    }
    const supported = mig.requires === undefined || versionAtLeast(server, mig.requires);
    if (!supported) {
      const detail = `needs ClickHouse >= ${mig.requires!.join('.')}, server is ${serverVersion}`;
      // Recorded once per server version, so a second run on the same server writes nothing.
      const known = rows.some((r) => r.status === 'skipped' && r.server_version === serverVersion);
      if (!known) await record(client, db, mig, 'skipped', serverVersion);
      results.push({ version: mig.version, name: mig.name, outcome: known ? 'already_skipped' : 'skipped', detail });
      continue;
    }
    for (const statement of mig.statements) await runStatement(client, statement);
    await record(client, db, mig, 'applied', serverVersion);
    results.push({ version: mig.version, name: mig.name, outcome: 'applied' });
  }
  return results;
}

/**
 * Servers before 19.x have no ADD COLUMN IF NOT EXISTS; a statement that only
 * adds columns and fails because they exist (a run interrupted before it was
 * recorded) has already done its work.
 */
async function runStatement(client: ClickHouseClient, statement: string): Promise<void> {
  try {
    await client.command({ query: statement });
  } catch (err) {
    const addsColumns =
      /^ALTER\s+TABLE\s+\S+\s+ADD\s+COLUMN\b/i.test(statement) && !/\b(DROP|MODIFY)\b/i.test(statement);
    if (!addsColumns || !/already exists/i.test(String((err as Error).message))) throw err;
  }
}

async function record(client: ClickHouseClient, db: string, mig: Migration, status: string, serverVersion: string) {
  await client.insert({
    table: `${db}.${MIGRATIONS_TABLE}`,
    format: 'JSONEachRow',
    values: [
      {
        version: mig.version,
        name: mig.name,
        status,
        checksum: mig.checksum,
        server_version: serverVersion,
        applied_at: Math.floor(Date.now() / 1000),
      },
    ],
  });
}

async function scalar(client: ClickHouseClient, query: string): Promise<string> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  const rows = await rs.json<{ v: string }>();
  return String(rows[0]?.v ?? '');
}
