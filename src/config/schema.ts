/**
 * The one configuration schema. Each knob is declared once here with its flag,
 * its SARK_* environment variable, its default and a doc line; the CLI help,
 * docs/configuration.md and the zod validation are all derived from this table.
 */
import { z } from 'zod';

export type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'url' | 'address' | 'enum' | 'path' | 'list';

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
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/,
    'expected a slash-separated rule path such as sark/gateway/decision',
  );

function int(min: number, max: number) {
  return z.coerce
    .number({ message: 'expected an integer' })
    .int('expected an integer')
    .min(min, `expected an integer >= ${min}`)
    .max(max, `expected an integer <= ${max}`);
}

/** Comma-separated names (tool names, reason codes): trimmed, empty items dropped. */
const nameList = z
  .string()
  .regex(/^[\x21-\x7e]{1,128}(\s*,\s*[\x21-\x7e]{1,128})*$/, 'expected names separated by commas')
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
  .transform((v) => v === true || v === 'true' || v === '1');

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
  // Legacy HTTP+SSE transport (MCP 2024-11-05), off unless upstreamSseUrl is set.
  field(
    'upstreamSseUrl',
    'upstream-sse-url',
    'url',
    httpUrl.optional(),
    'SSE endpoint of an MCP server on the legacy HTTP+SSE transport (2024-11-05), e.g. http://127.0.0.1:3000/sse.',
    '(legacy transport off)',
  ),
  field(
    'legacySsePath',
    'legacy-sse-path',
    'path',
    absPath.default('/sse'),
    'Path on the data listener where legacy clients open their SSE stream.',
  ),
  field(
    'legacyMessagesPath',
    'legacy-messages-path',
    'path',
    absPath.default('/messages'),
    'Path on the data listener where legacy clients POST their messages.',
  ),
  field(
    'serverId',
    'server-id',
    'string',
    z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9._:-]+$/, 'expected letters, digits, . _ : -')
      .default('demo'),
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
  // Decision cache, circuit breaker, rate limits (docs/decision-cache.md).
  field(
    'redisMode',
    'redis-mode',
    'enum',
    z.enum(['standalone', 'sentinel', 'cluster']).default('standalone'),
    'How to reach Redis: standalone (redisUrl), sentinel or cluster (redisNodes).',
  ),
  field(
    'redisUrl',
    'redis-url',
    'url',
    z
      .string()
      .regex(/^rediss?:\/\/[^\s]+$/, 'expected redis://[user:password@]host:port[/db] or rediss://…')
      .optional(),
    'Redis for the shared decision cache and rate-limit buckets. In sentinel/cluster mode only its credentials, db and TLS (rediss://) are used. Unset with no redisNodes: in-process cache and local buckets only.',
    '(no Redis)',
  ),
  field(
    'redisNodes',
    'redis-nodes',
    'string',
    z
      .string()
      .regex(/^[A-Za-z0-9.:[\]-]+:\d{1,5}(,[A-Za-z0-9.:[\]-]+:\d{1,5})*$/, 'expected host:port[,host:port…]')
      .optional(),
    'Comma-separated host:port list: the sentinels (sentinel mode) or cluster seed nodes (cluster mode).',
    '(none)',
  ),
  field(
    'redisSentinelName',
    'redis-sentinel-name',
    'string',
    z.string().min(1).default('mymaster'),
    'Master group name the sentinels monitor.',
  ),
  field(
    'redisKeyPrefix',
    'redis-key-prefix',
    'string',
    z
      .string()
      .regex(/^[A-Za-z0-9:_.-]{0,64}$/, 'expected letters, digits, : _ . -')
      .default('sark:'),
    'Prefix of every Redis key and channel SARK uses.',
  ),
  field(
    'redisBudgetMs',
    'redis-budget-ms',
    'integer',
    int(1, 1000).default(5),
    'Longest a request waits on Redis, in ms; past it the request goes on without Redis.',
  ),
  field(
    'decisionCacheEntries',
    'decision-cache-entries',
    'integer',
    int(0, 10_000_000).default(50_000),
    'Entries in the in-process decision cache; 0 turns the whole decision cache off (Redis level included).',
  ),
  field(
    'decisionCacheMaxBytes',
    'decision-cache-max-bytes',
    'integer',
    int(1024, 4 * 1024 * 1024 * 1024).default(32 * 1024 * 1024),
    'Approximate bytes the in-process decision cache may hold.',
  ),
  field(
    'decisionCacheMaxTtlMs',
    'decision-cache-max-ttl-ms',
    'integer',
    int(0, 86_400_000).default(60_000),
    "Cap on an allow's cache lifetime, in ms (the policy's cache.ttl_seconds is used up to this).",
  ),
  field(
    'decisionCacheMaxDenyTtlMs',
    'decision-cache-max-deny-ttl-ms',
    'integer',
    int(0, 86_400_000).default(5_000),
    "Cap on a deny's cache lifetime, in ms; 0 never caches denies.",
  ),
  field(
    'policyRevisionPollMs',
    'policy-revision-poll-ms',
    'integer',
    int(0, 3_600_000).default(1_000),
    'How often to read the bundle revisions OPA reports (/v1/data/system/bundles), in ms; a change empties the decision cache; audit events carry it. 0: never.',
  ),
  field(
    'breakerErrorPercent',
    'breaker-error-percent',
    'integer',
    int(1, 100).default(50),
    'Share of failed policy calls in the window, in percent, above which the breaker opens.',
  ),
  field(
    'breakerVolume',
    'breaker-volume',
    'integer',
    int(1, 1_000_000).default(20),
    'Policy calls needed in the window before the breaker may open.',
  ),
  field(
    'breakerWindowMs',
    'breaker-window-ms',
    'integer',
    int(100, 600_000).default(10_000),
    'Rolling window over which policy call failures are counted, in ms.',
  ),
  field(
    'breakerResetMs',
    'breaker-reset-ms',
    'integer',
    int(50, 600_000).default(2_000),
    'Time the breaker stays open before one half-open probe call, in ms.',
  ),
  field(
    'policyDegradedMode',
    'policy-degraded-mode',
    'boolean',
    bool.default(false),
    'While OPA fails, serve cached decisions up to policyDegradedMaxStaleMs past their TTL (never new allows). Risk: revocations made during the outage are not seen.',
  ),
  field(
    'policyDegradedMaxStaleMs',
    'policy-degraded-max-stale-ms',
    'integer',
    int(0, 86_400_000).default(60_000),
    'In degraded mode, how long past its TTL a cached decision may still be served, in ms.',
  ),
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
  // Strict message parsing (src/mcp/strict-json.ts).
  field(
    'jsonMaxDepth',
    'json-max-depth',
    'integer',
    int(2, 1000).default(64),
    'Deepest nesting of objects and arrays accepted in a message.',
  ),
  field(
    'jsonMaxStringLength',
    'json-max-string-length',
    'integer',
    int(16, 64 * 1024 * 1024).default(1024 * 1024),
    'Longest string accepted in a message, in UTF-16 code units.',
  ),
  field(
    'jsonMaxArrayLength',
    'json-max-array-length',
    'integer',
    int(1, 1_000_000).default(10_000),
    'Longest array accepted in a message (a batch counts as an array).',
  ),
  field(
    'jsonMaxKeys',
    'json-max-keys',
    'integer',
    int(1, 1_000_000).default(1_000),
    'Most keys accepted in one object of a message.',
  ),
  field(
    'batchMode',
    'batch-mode',
    'enum',
    z.enum(['per-element', 'reject']).default('per-element'),
    'JSON-RPC batches (2025-03-26 and earlier): authorize and answer each element, or reject every batch.',
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
    'Append one NDJSON audit event per decision to this file; "off" disables it. Unset: ./sark-audit.ndjson when no auditClickhouseUrl is set, none otherwise (docs/audit.md).',
    '(./sark-audit.ndjson without ClickHouse)',
  ),
  // Audit pipeline: ClickHouse, Splunk HEC, Datadog; batching, spool, back-pressure (docs/audit.md).
  field(
    'auditClickhouseUrl',
    'audit-clickhouse-url',
    'url',
    httpUrl.optional(),
    'ClickHouse HTTP endpoint for audit events, e.g. http://127.0.0.1:8123. Tables come from `sark migrate`.',
    '(off)',
  ),
  field(
    'auditClickhouseDatabase',
    'audit-clickhouse-database',
    'string',
    z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected a ClickHouse identifier')
      .default('sark'),
    'ClickHouse database of the audit table.',
  ),
  field(
    'auditClickhouseTable',
    'audit-clickhouse-table',
    'string',
    z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected a ClickHouse identifier')
      .default('audit_events'),
    'ClickHouse audit table.',
  ),
  field(
    'auditClickhouseUser',
    'audit-clickhouse-user',
    'string',
    z.string().min(1).default('default'),
    'ClickHouse user.',
  ),
  field(
    'auditClickhousePassword',
    'audit-clickhouse-password',
    'string',
    z.string().optional(),
    'ClickHouse password (prefer the environment variable).',
    '(empty)',
  ),
  field(
    'auditBatchSize',
    'audit-batch-size',
    'integer',
    int(1, 100_000).default(20_000),
    'Most audit events per batch sent to a sink; a batch also leaves every auditFlushIntervalMs. ClickHouse pays per insert, so batches are large; Splunk and Datadog batches are capped at 1000.',
  ),
  field(
    'auditFlushIntervalMs',
    'audit-flush-interval-ms',
    'integer',
    int(10, 60_000).default(1000),
    'Longest time an audit event waits in memory before its batch is sent, in ms.',
  ),
  field(
    'auditQueueMaxEvents',
    'audit-queue-max-events',
    'integer',
    int(100, 10_000_000).default(100_000),
    'Audit events held in memory per sink; past it new events are dropped and counted (queue_full).',
  ),
  field(
    'auditSendTimeoutMs',
    'audit-send-timeout-ms',
    'integer',
    int(100, 600_000).default(10_000),
    'Deadline for one batch delivery, in ms; past it the batch is spooled and retried.',
  ),
  field(
    'auditSpoolDir',
    'audit-spool-dir',
    'string',
    z.string().min(1).default('sark-audit-spool'),
    'Directory of the local spool (one subdirectory per remote sink) holding batches a sink could not take.',
  ),
  field(
    'auditSpoolMaxBytes',
    'audit-spool-max-bytes',
    'integer',
    int(1024 * 1024, 2 ** 50).default(1024 * 1024 * 1024),
    'Size cap of each sink spool, in bytes; a batch that would pass it is dropped and counted (spool_full).',
  ),
  field(
    'auditSpoolFsync',
    'audit-spool-fsync',
    'enum',
    z.enum(['always', 'interval', 'never']).default('interval'),
    'When spooled batches are fsynced: after every batch, at most once a second, or never (left to the OS).',
  ),
  field(
    'auditCloseGraceMs',
    'audit-close-grace-ms',
    'integer',
    int(0, 600_000).default(5000),
    'On shutdown, time to flush queued audit events to the sinks before spooling the rest, in ms.',
  ),
  field(
    'splunkHecUrl',
    'splunk-hec-url',
    'url',
    httpUrl.optional(),
    'Splunk HTTP Event Collector base URL, e.g. https://splunk:8088 (events go to /services/collector/event).',
    '(off)',
  ),
  field('splunkHecToken', 'splunk-hec-token', 'string', z.string().min(1).optional(), 'Splunk HEC token.', '(none)'),
  field(
    'splunkIndex',
    'splunk-index',
    'string',
    z.string().min(1).optional(),
    'Splunk index for audit events.',
    '(token default)',
  ),
  field('splunkSource', 'splunk-source', 'string', z.string().min(1).default('sark'), 'Splunk source of audit events.'),
  field(
    'splunkSourcetype',
    'splunk-sourcetype',
    'string',
    z.string().min(1).default('sark:audit'),
    'Splunk sourcetype of audit events.',
  ),
  field(
    'datadogApiKey',
    'datadog-api-key',
    'string',
    z.string().min(1).optional(),
    'Datadog API key; set to forward audit events to Datadog logs.',
    '(off)',
  ),
  field(
    'datadogSite',
    'datadog-site',
    'string',
    z
      .string()
      .regex(/^[a-z0-9.-]+$/, 'expected a Datadog site such as datadoghq.com or datadoghq.eu')
      .default('datadoghq.com'),
    'Datadog site (datadoghq.com, datadoghq.eu, us3.datadoghq.com, us5.datadoghq.com, ap1.datadoghq.com, …).',
  ),
  field(
    'datadogLogsUrl',
    'datadog-logs-url',
    'url',
    httpUrl.optional(),
    'Datadog logs intake URL override (proxy); default https://http-intake.logs.<datadogSite>/api/v2/logs.',
    '(from datadogSite)',
  ),
  field(
    'datadogService',
    'datadog-service',
    'string',
    z.string().min(1).default('sark'),
    'Datadog service of audit logs.',
  ),
  field(
    'datadogTags',
    'datadog-tags',
    'string',
    z.string().min(1).optional(),
    'Datadog ddtags for audit logs, e.g. env:prod,team:security.',
    '(none)',
  ),
  // Observability (docs/observability.md).
  field(
    'policyProbeIntervalMs',
    'policy-probe-interval-ms',
    'integer',
    int(0, 3_600_000).default(5_000),
    'How often the policy engine is probed while no decision reaches it, in ms (sark_policy_engine_up, which decisions feed too). 0: decisions only.',
  ),
  field(
    'metricsToolNames',
    'metrics-tool-names',
    'list',
    nameList.optional(),
    'Comma-separated tool names that always get their own `tool` label on the tool metrics; unknown names count as `other`.',
    '(none)',
  ),
  field(
    'metricsToolCatalogPath',
    'metrics-tool-catalog-path',
    'string',
    z
      .string()
      .regex(/^([A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*)?$/, 'expected a slash-separated data path or empty')
      .default('sark/tools'),
    "Policy data path whose `<serverId>` document's keys are this server's tools; they get their own `tool` label (read at start-up and every minute). Empty: configured names only.",
  ),
  field(
    'metricsMaxToolLabels',
    'metrics-max-tool-labels',
    'integer',
    int(0, 10_000).default(200),
    'Most tool names that get their own `tool` label (configured names first); past it, tools count as `other`.',
  ),
  field(
    'metricsReasonCodes',
    'metrics-reason-codes',
    'list',
    nameList.optional(),
    "Comma-separated policy reason codes, beyond the catalogue's and the bundled policy's, that get their own `reason` label; unknown codes count as `other`.",
    '(none)',
  ),
  field(
    'tracingOtlpEndpoint',
    'tracing-otlp-endpoint',
    'url',
    httpUrl.optional(),
    'OTLP/HTTP (JSON) traces endpoint, e.g. http://otel-collector:4318/v1/traces. Set: a span per request (identity, policy, upstream), W3C traceparent continued and propagated. Unset: tracing off, at no cost.',
    '(tracing off)',
  ),
  field(
    'tracingSampleRatio',
    'tracing-sample-ratio',
    'number',
    z.coerce.number({ message: 'expected a number' }).min(0, 'expected 0..1').max(1, 'expected 0..1').default(1),
    "Share of new traces that are recorded, 0..1; a client's traceparent decides for its own trace (parent-based).",
  ),
  field(
    'tracingServiceName',
    'tracing-service-name',
    'string',
    z.string().min(1).max(128).default('sark'),
    'service.name of the spans SARK exports.',
  ),
  field(
    'logLevel',
    'log-level',
    'enum',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    'Log level (pino levels; silent turns logging off).',
  ),
] as const;

type Fields = typeof fields;
type FieldByKey<K extends Fields[number]['key']> = Extract<Fields[number], { key: K }>;

export type SarkConfig = {
  [K in Fields[number]['key']]: z.output<FieldByKey<K>['schema']>;
};

export const configSchema = z
  .object(
    Object.fromEntries(fields.map((f) => [f.key, f.schema])) as {
      [K in Fields[number]['key']]: FieldByKey<K>['schema'];
    },
  )
  .strict();
