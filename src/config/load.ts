/**
 * Turns flags and SARK_* environment variables into one validated SarkConfig.
 * Precedence: flag > environment > default. Errors name the field, where the
 * value came from and the expected form, so a bad deployment fails at start-up.
 */
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { configSchema, type FieldSpec, fields, type SarkConfig } from './schema.ts';

export interface ConfigSources {
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(sources: ConfigSources = {}): SarkConfig {
  return parseFields(fields, configSchema, sources) as SarkConfig;
}

/**
 * Flags > environment > defaults for any table of fields (the sidecar's, or a
 * command's own such as `sark inject`'s), validated by its zod object.
 */
export function parseFields(
  table: readonly FieldSpec[],
  schema: z.ZodType,
  { argv = [], env = process.env }: ConfigSources = {},
): unknown {
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      args: [...argv],
      options: Object.fromEntries(table.map((f) => [f.flag, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }

  const raw: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  for (const f of table) {
    const fromFlag = flags[f.flag];
    const fromEnv = env[f.env];
    if (fromFlag !== undefined) {
      raw[f.key] = fromFlag;
      origin[f.key] = `--${f.flag}`;
    } else if (fromEnv !== undefined && fromEnv !== '') {
      raw[f.key] = fromEnv;
      origin[f.key] = f.env;
    }
  }

  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const spec = table.find((f) => f.key === key);
      const where = origin[key] ?? (spec ? `--${spec.flag} / ${spec.env}` : key);
      return `${key} (${where}) = ${JSON.stringify(raw[key])}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

export function configHelp(table: readonly FieldSpec[] = fields): string {
  const rows = table.map((f) => {
    const dflt = f.defaultText ?? defaultOf(f.schema);
    return `  --${f.flag} <${f.type}>\n      ${f.doc}\n      env ${f.env}${dflt === undefined ? '' : `, default ${dflt}`}`;
  });
  return rows.join('\n');
}

function defaultOf(schema: unknown): string | undefined {
  const result = (schema as { safeParse(v: unknown): { success: boolean; data?: unknown } }).safeParse(undefined);
  return result.success && result.data !== undefined ? String(result.data) : undefined;
}

/** Splits host:port (IPv6 in brackets) for net.Server#listen. */
export function splitAddress(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  return { host, port: Number(addr.slice(i + 1)) };
}
