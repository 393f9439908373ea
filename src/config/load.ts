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
    const fromEnv = envValue(f, env);
    if (fromFlag !== undefined) {
      raw[f.key] = fromFlag;
      origin[f.key] = `--${f.flag}`;
    } else if (fromEnv !== undefined) {
      raw[f.key] = fromEnv.value;
      origin[f.key] = fromEnv.name;
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

/**
 * The field's value from the environment: its SARK_* variable, else one of
 * its aliases. An empty variable counts as unset. Two names set to different
 * values are refused: the operator meant one of them, and SARK cannot tell which.
 */
function envValue(f: FieldSpec, env: NodeJS.ProcessEnv): { name: string; value: string } | undefined {
  const set = [f.env, ...(f.envAliases ?? [])]
    .map((name) => ({ name, value: env[name] }))
    .filter((e): e is { name: string; value: string } => e.value !== undefined && e.value !== '');
  const first = set[0];
  const other = set.find((e) => e.value !== first?.value);
  if (first && other) {
    throw new ConfigError(
      `invalid configuration:\n  ${f.key}: ${first.name} and ${other.name} are both set, to different values; set one`,
    );
  }
  return first;
}

/** The environment variables a field is read from, SARK_* first: "SARK_X or X". */
export function envNames(f: FieldSpec): string {
  return [f.env, ...(f.envAliases ?? [])].join(' or ');
}

export function configHelp(table: readonly FieldSpec[] = fields): string {
  const rows = table.map((f) => {
    const dflt = f.defaultText ?? defaultOf(f.schema);
    return `  --${f.flag} <${f.type}>\n      ${f.doc}\n      env ${envNames(f)}${dflt === undefined ? '' : `, default ${dflt}`}`;
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
