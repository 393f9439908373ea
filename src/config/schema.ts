/**
 * The one configuration schema. Each knob is declared once here with its flag,
 * its SARK_* environment variable, its default and a doc line; the CLI help,
 * docs/configuration.md and the zod validation are all derived from this table.
 */
import { z } from 'zod';

export type FieldType = 'string' | 'integer' | 'boolean' | 'url' | 'address' | 'enum' | 'path';

export interface FieldSpec<K extends string = string, T extends z.ZodType = z.ZodType> {
  readonly key: K;
  readonly flag: string;
  readonly env: string;
  readonly type: FieldType;
  readonly doc: string;
  readonly schema: T;
  readonly defaultText?: string;
}

const address = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/, 'expected host:port, for example 127.0.0.1:8080')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0..65535');

const httpUrl = z
  .string()
  .url('expected an absolute http:// or https:// URL')
  .refine((v) => /^https?:\/\//.test(v), 'expected an http:// or https:// URL');

const absPath = z.string().regex(/^\/[^\s?#]*$/, 'expected an absolute URL path such as /mcp');

const decisionPath = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/, 'expected a slash-separated rule path such as sark/gateway/decision');

function int(min: number, max: number) {
  return z.coerce
    .number({ message: 'expected an integer' })
    .int('expected an integer')
    .min(min, `expected an integer >= ${min}`)
    .max(max, `expected an integer <= ${max}`);
}

const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0'])]).transform((v) => v === true || v === 'true' || v === '1');

function field<K extends string, T extends z.ZodType>(
  key: K,
  flag: string,
  type: FieldType,
  schema: T,
  doc: string,
  defaultText?: string,
): FieldSpec<K, T> {
  const env = `SARK_${key.replace(/([A-Z])/g, '_$1').toUpperCase()}`;
  return { key, flag, env, type, schema, doc, ...(defaultText === undefined ? {} : { defaultText }) };
}

export const fields = [
  field('listen', 'listen', 'address', address.default('127.0.0.1:8080'), 'Data listener address (MCP traffic).'),
  field(
    'adminListen',
    'admin-listen',
    'address',
    address.default('127.0.0.1:9090'),
    'Admin listener address (/healthz, /readyz, /metrics).',
  ),
  field('mcpPath', 'mcp-path', 'path', absPath.default('/mcp'), 'Path of the MCP endpoint on the data listener.'),
  field(
    'upstreamUrl',
    'upstream-url',
    'url',
    httpUrl.optional(),
    'URL of the protected MCP endpoint, e.g. http://127.0.0.1:3000/mcp. Unset: start the bundled demo MCP server.',
    '(bundled demo server)',
  ),
  field(
    'upstreamTimeoutMs',
    'upstream-timeout-ms',
    'integer',
    int(1, 3_600_000).default(30_000),
    'Time to wait for the MCP server to start answering, in ms.',
  ),
  field(
    'upstreamConnections',
    'upstream-connections',
    'integer',
    int(1, 1024).default(64),
    'Keep-alive connections in the upstream pool.',
  ),
  field(
    'serverId',
    'server-id',
    'string',
    z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'expected letters, digits, . _ : -').default('demo'),
    'Identifier of the protected MCP server, as the policy knows it.',
  ),
  field(
    'opaUrl',
    'opa-url',
    'url',
    httpUrl.optional(),
    'Base URL of the OPA server, e.g. http://127.0.0.1:8181. Unset: evaluate the bundled policy in-process (WASM).',
    '(embedded WASM policy)',
  ),
  field(
    'opaDecisionPath',
    'opa-decision-path',
    'string',
    decisionPath.default('sark/gateway/decision'),
    'Rule path queried through the Data API (/v1/data/<path>).',
  ),
  field(
    'opaTimeoutMs',
    'opa-timeout-ms',
    'integer',
    int(1, 60_000).default(25),
    'Deadline for one policy decision, in ms; past it the request is denied.',
  ),
  field('opaConnections', 'opa-connections', 'integer', int(1, 1024).default(32), 'Keep-alive connections to OPA.'),
  field(
    'embeddedPolicyDir',
    'embedded-policy-dir',
    'string',
    z.string().min(1).optional(),
    'Directory holding policy.wasm and data.json (from `npm run policy:build`) for the embedded evaluator.',
    '(opa/build in the package)',
  ),
  field(
    'maxBodyBytes',
    'max-body-bytes',
    'integer',
    int(64, 64 * 1024 * 1024).default(1024 * 1024),
    'Largest accepted request body, in bytes; larger bodies get HTTP 413.',
  ),
  field(
    'apiKeysFile',
    'api-keys-file',
    'string',
    z.string().min(1).optional(),
    'JSON file of API keys: [{"key"|"sha256": …, "agentId": …, "roles": […], …}].',
    '(none)',
  ),
  field(
    'meshIdentityHeader',
    'mesh-identity-header',
    'string',
    z
      .string()
      .regex(/^[a-z0-9-]+$/, 'expected a lower-case header name')
      .optional(),
    'Header set by a trusted mesh proxy carrying the caller identity (SPIFFE URI or agent id). Only enable behind a mesh that strips it from outside traffic.',
    '(off)',
  ),
  field(
    'allowAnonymous',
    'allow-anonymous',
    'boolean',
    bool.default(true),
    'Let callers without credentials through to the policy as the anonymous agent (role "anonymous").',
  ),
  field(
    'auditFile',
    'audit-file',
    'string',
    z.string().min(1).optional(),
    'Append one NDJSON audit event per decision to this file.',
    '(off)',
  ),
  field(
    'logLevel',
    'log-level',
    'enum',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    'Log level.',
  ),
] as const;

type Fields = typeof fields;
type FieldByKey<K extends Fields[number]['key']> = Extract<Fields[number], { key: K }>;

export type SarkConfig = {
  [K in Fields[number]['key']]: z.output<FieldByKey<K>['schema']>;
};

export const configSchema = z
  .object(Object.fromEntries(fields.map((f) => [f.key, f.schema])) as { [K in Fields[number]['key']]: FieldByKey<K>['schema'] })
  .strict();
