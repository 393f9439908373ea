/**
 * `sark migrate [flags]`: applies deploy/clickhouse/migrations to the audit
 * ClickHouse (argument parsing and output only; the work is in
 * src/record/migrations.ts). Takes the same --audit-clickhouse-* flags and
 * SARK_AUDIT_CLICKHOUSE_* variables as `serve`. Exit 0 when every migration is
 * applied or skipped for an older server; a second run prints "no changes".
 */
import { loadConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { clickHouseClient } from '../record/clickhouse.ts';
import { migrate } from '../record/migrations.ts';

export async function migrateCommand(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const config = loadConfig({ argv, env: process.env });
  if (!config.auditClickhouseUrl)
    throw new ConfigError('sark migrate needs --audit-clickhouse-url (SARK_AUDIT_CLICKHOUSE_URL)');
  // The default database: the audit database may not exist yet.
  const client = clickHouseClient({
    url: config.auditClickhouseUrl,
    database: 'default',
    username: config.auditClickhouseUser,
    password: config.auditClickhousePassword,
    requestTimeoutMs: 60_000,
  });
  try {
    const results = await migrate({
      client,
      database: config.auditClickhouseDatabase,
      table: config.auditClickhouseTable,
    });
    let changes = 0;
    for (const r of results) {
      if (r.outcome === 'applied' || r.outcome === 'skipped') changes++;
      out.write(
        `${String(r.version).padStart(3, '0')}_${r.name}: ${r.outcome.replace('_', ' ')}${r.detail ? ` (${r.detail})` : ''}\n`,
      );
    }
    out.write(
      changes === 0
        ? 'no changes\n'
        : `${changes} change(s) recorded in ${config.auditClickhouseDatabase}.sark_schema_migrations\n`,
    );
    return 0;
  } finally {
    await client.close();
  }
}
