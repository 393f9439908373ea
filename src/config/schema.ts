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
  /**
   * Other environment variables read for this field, for names fixed outside
   * SARK (the MCP Gateway Registry's GATEWAY_*). The SARK_* name wins when
   * both are set to the same value; different values are a start-up error.
   */
  readonly envAliases?: readonly string[];
  readonly type: FieldType;
  readonly doc: string;
  readonly schema: T;
  readonly defaultText?: string;
}

export const address = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/, 'expected host:port, for example 127.0.0.1:8080')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0..65535');

export const httpUrl = z
  .string()
  .url('expected an absolute http:// or https:// URL')
  .refine((v) => /^https?:\/\//.test(v), 'expected an http:// or https:// URL');

export const absPath = z.string().regex(/^\/[^\s?#]*$/, 'expected an absolute URL path such as /mcp');

/**
 * Passthrough paths: plain segments only. No dot segments, percent-encoding,
 * backslashes or empty segments, so that the server behind SARK cannot read
 * an allowed path as a different (enforced) one. A trailing "/*" is a prefix.
 */
const passthroughEntry = /^(\/[A-Za-z0-9_~!$&'()+,;=:@-][A-Za-z0-9._~!$&'()+,;=:@-]*)+(\/\*)?$|^\/$/;
export const passthroughList = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== ''),
  )
  .refine(
    (list) => list.every((p) => passthroughEntry.test(p) && !/\/\.\.?(\/|$)/.test(p)),
    'expected comma-separated absolute paths of plain segments, each optionally ending in /* (no ".", "..", "%", "\\" or "//")',
  );

const hostList = z
  .string()
  .regex(/^[A-Za-z0-9.:[\]-]+(,[A-Za-z0-9.:[\]-]+)*$/, 'expected host[:port][,host[:port]…]')
  .transform((v) => v.split(','));

const originList = z
  .string()
  .regex(/^https?:\/\/[^\s,/]+(,https?:\/\/[^\s,/]+)*$/, 'expected scheme://host[:port][,…]')
  .transform((v) => v.split(','));

const decisionPath = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/,
    'expected a slash-separated rule path such as sark/gateway/decision',
  );

export function int(min: number, max: number) {
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

export const bool = z
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

/** The field, also read from the given environment variables (FieldSpec.envAliases). */
function aliased<F extends FieldSpec>(
  spec: F,
  ...envAliases: string[]
): F & { readonly envAliases: readonly string[] } {
  return { ...spec, envAliases };
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
  field(
    'apiListen',
    'api-listen',
    'address',
    address.optional(),
    'Decision API listener address (/api/v1/gateway/authorize, /servers, /tools, /audit, AuthZEN /access/v1/evaluation[s]; docs/api.md). Unset: no decision API.',
    '(off)',
  ),
  field(
    'a2aCardKeysFile',
    'a2a-card-keys-file',
    'string',
    z.string().min(1).optional(),
    'JWKS file of the keys trusted to sign A2A agent cards (A2A v1.0 "Agent Card Signing"), for /authorize-a2a. Unset: no card counts as verified.',
    '(none)',
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
  // Non-MCP traffic on the intercepted port (docs/kubernetes.md): kubelet probes, metrics, WebSockets.
  field(
    'passthroughPaths',
    'passthrough-paths',
    'string',
    passthroughList.optional(),
    'Comma-separated paths passed unchanged to the upstream origin (GET/HEAD and WebSocket upgrades): exact (/healthz) or a prefix ending in /* (/metrics/*). Everything else but the MCP paths gets 404.',
    '(none)',
  ),
  field(
    'allowedHosts',
    'allowed-hosts',
    'string',
    hostList.optional(),
    'Comma-separated Host names (name or name:port) the data listener answers for; others get 403 (DNS rebinding protection). Unset: localhost names when listening on loopback, any name otherwise.',
    '(localhost names on loopback, any otherwise)',
  ),
  field(
    'allowedOrigins',
    'allowed-origins',
    'string',
    originList.optional(),
    'Comma-separated Origins (scheme://host[:port]) allowed to call the data listener; a request with any other Origin gets 403. Unset: localhost origins when listening on loopback, none otherwise.',
    '(localhost origins on loopback, none otherwise)',
  ),
  // Envoy ext_authz (docs/api.md, "Envoy ext_authz"): a gRPC listener of its own, off unless extAuthzListen is set.
  field(
    'extAuthzListen',
    'ext-authz-listen',
    'address',
    address.optional(),
    'Address of the Envoy ext_authz gRPC listener (envoy.service.auth.v3.Authorization/Check). Every Check goes through the same stages as the MCP listener. Unset: no listener, and its code is never loaded.',
    '(off)',
  ),
  field(
    'extAuthzTlsCertFile',
    'ext-authz-tls-cert-file',
    'string',
    z.string().min(1).optional(),
    'PEM certificate chain of the ext_authz listener; with extAuthzTlsKeyFile it serves TLS. Unset: plaintext (bind it to loopback).',
    '(plaintext)',
  ),
  field(
    'extAuthzTlsKeyFile',
    'ext-authz-tls-key-file',
    'string',
    z.string().min(1).optional(),
    'PEM private key of the ext_authz listener certificate.',
    '(none)',
  ),
  field(
    'extAuthzTlsClientCaFile',
    'ext-authz-tls-client-ca-file',
    'string',
    z.string().min(1).optional(),
    'PEM CA bundle: when set, Envoy must present a client certificate it signed (mTLS).',
    '(no client certificate)',
  ),
  field(
    'extAuthzUnenforceable',
    'ext-authz-unenforceable',
    'enum',
    z.enum(['deny', 'allow']).default('deny'),
    'What ext_authz cannot enforce because it never sees or rewrites a message SARK allowed: list filtering, TTL caps, task binding, session ownership, session end. deny refuses those requests; allow lets them through unenforced. Argument edits are always refused.',
  ),
  field(
    'upstreamMaxBufferedBytes',
    'upstream-max-buffered-bytes',
    'integer',
    int(1024, 1024 * 1024 * 1024).default(16 * 1024 * 1024),
    'Largest upstream answer (a JSON body, or one SSE event) SARK holds in memory to filter or rewrite it, in bytes; a larger one is refused with 502.',
  ),
  field(
    'sessionIdleTtlMs',
    'session-idle-ttl-ms',
    'integer',
    int(1000, 30 * 86_400_000).default(3_600_000),
    'How long SARK remembers which principal owns a 2025 session after its last use, in ms; after it the session id is refused (404) and the client starts a new one.',
  ),
  field(
    'taskTtlMs',
    'task-ttl-ms',
    'integer',
    int(1000, 30 * 86_400_000).default(86_400_000),
    'How long SARK remembers which principal owns a task, in ms.',
  ),
  field(
    'bindingMaxEntries',
    'binding-max-entries',
    'integer',
    int(1, 100_000_000).default(100_000),
    'Most session and task ownership records held in memory (least recently used are forgotten first).',
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
  // Slow and excess clients (src/listen/connections.ts).
  field(
    'headersTimeoutMs',
    'headers-timeout-ms',
    'integer',
    int(0, 3_600_000).default(10_000),
    "Deadline for receiving a request's headers, from the connection's first byte (or the end of the previous request), in ms; past it HTTP 408 and the connection is closed. At most requestTimeoutMs. 0: none.",
  ),
  field(
    'requestTimeoutMs',
    'request-timeout-ms',
    'integer',
    int(0, 3_600_000).default(30_000),
    'Deadline for receiving a whole request, headers and body, in ms; past it HTTP 408 and the connection is closed. Answers and SSE streams are not limited by it. 0: none.',
  ),
  field(
    'requestBodyIdleTimeoutMs',
    'request-body-idle-timeout-ms',
    'integer',
    int(0, 3_600_000).default(10_000),
    'Longest pause while a request body is being received, in ms; past it HTTP 408 and the connection is closed. 0: none.',
  ),
  field(
    'maxConnections',
    'max-connections',
    'integer',
    int(0, 1_000_000).default(4_096),
    'Most client connections the data listener holds open at once; past it a new connection gets HTTP 503 (Retry-After: 1) and is closed. 0: no cap.',
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
  // Identity (docs/authentication.md): API keys, mesh identity, OAuth access tokens, anonymous.
  field(
    'batchMaxElements',
    'batch-max-elements',
    'integer',
    int(1, 10_000).default(100),
    'Most messages in one JSON-RPC batch; a larger batch is refused whole.',
  ),
  field(
    'batchConcurrency',
    'batch-concurrency',
    'integer',
    int(1, 1000).default(8),
    'Policy decisions one request may have in flight at once (batch elements, subscription resources, listed items).',
  ),
  field(
    'subscriptionMaxUris',
    'subscription-max-uris',
    'integer',
    int(1, 10_000).default(100),
    'Most resources one subscriptions/listen may cover; each is decided like a resources/read.',
  ),
  field(
    'apiKeysFile',
    'api-keys-file',
    'string',
    z.string().min(1).optional(),
    'JSON file of API keys: [{"key"|"sha256": …, "agentId": …, "roles": […], …}]; reloaded when it changes.',
    '(none)',
  ),
  field(
    'apiKeys',
    'api-keys',
    'string',
    z.string().min(2).optional(),
    'The same JSON array inline (set it through SARK_API_KEYS; prefer "sha256" entries).',
    '(none)',
  ),
  field(
    'apiKeysDir',
    'api-keys-dir',
    'string',
    z.string().min(1).optional(),
    'Directory of one JSON key entry per file, e.g. a mounted Kubernetes Secret; agentId defaults to the file name. Reloaded when it changes.',
    '(none)',
  ),
  field(
    'apiKeysReloadIntervalMs',
    'api-keys-reload-interval-ms',
    'integer',
    int(0, 3_600_000).default(5_000),
    'How often the API key file and directory are compared by stat, in ms, besides file-system events; 0: events only.',
  ),
  field(
    'meshIdentityHeader',
    'mesh-identity-header',
    'string',
    z
      .string()
      .regex(/^[a-z0-9-]+$/, 'expected a lower-case header name')
      .optional(),
    'Header set by the mesh proxy with the caller identity: x-forwarded-client-cert is parsed as Envoy XFCC (the SPIFFE ID of the last element); any other header holds the identity as is. Believed only from meshTrustedCidrs.',
    '(off)',
  ),
  field(
    'meshTrustedCidrs',
    'mesh-trusted-cidrs',
    'string',
    z.string().min(1).default('127.0.0.0/8,::1/128'),
    'Comma-separated CIDRs of the mesh proxy: the mesh identity header is believed only on connections from these addresses; from any other it is refused.',
  ),
  field(
    'meshTrustDomain',
    'mesh-trust-domain',
    'string',
    z.string().min(1).optional(),
    'Accept only SPIFFE IDs of this trust domain (e.g. cluster.local).',
    '(any)',
  ),
  field(
    'allowAnonymous',
    'allow-anonymous',
    'boolean',
    bool.default(true),
    'Let callers without credentials through to the policy as the anonymous agent (role "anonymous").',
  ),
  // OAuth 2.1 resource server (MCP authorization): SARK verifies access tokens for the server behind it.
  field(
    'resourceUrl',
    'resource-url',
    'url',
    httpUrl.optional(),
    "SARK's public URL of the MCP endpoint, e.g. https://mcp.example.com/mcp: the Protected Resource Metadata `resource` and the audience every access token must name (RFC 8707). Required with jwtIssuer.",
    '(OAuth off)',
  ),
  field(
    'authorizationServers',
    'authorization-servers',
    'string',
    z.string().min(1).optional(),
    'Comma-separated issuer URLs of the authorization servers clients should use (Protected Resource Metadata `authorization_servers`). Default: jwtIssuer.',
    '(jwtIssuer)',
  ),
  field(
    'scopesSupported',
    'scopes-supported',
    'string',
    z.string().min(1).optional(),
    'Space- or comma-separated scopes for basic access: `scopes_supported` in the metadata and `scope` in 401 challenges (offline_access is never listed).',
    '(none)',
  ),
  field(
    'scopeHierarchy',
    'scope-hierarchy',
    'string',
    z.string().min(1).optional(),
    'Scopes that imply others, "broad>narrow1 narrow2; …", e.g. "files:admin>files:write; files:write>files:read". Granted scopes are expanded before the policy sees them.',
    '(none)',
  ),
  field(
    'jwtIssuer',
    'jwt-issuer',
    'url',
    httpUrl.optional(),
    'Issuer (`iss`) of the access tokens SARK accepts. Setting it turns JWT verification on (with jwtJwksUrl or jwtKeyFile, and resourceUrl).',
    '(JWT off)',
  ),
  field(
    'jwtJwksUrl',
    'jwt-jwks-url',
    'url',
    httpUrl.optional(),
    "The issuer's JWKS URL (jwks_uri). Keys are cached and fetched again when a token names an unknown key id.",
    '(none)',
  ),
  field(
    'jwtKeyFile',
    'jwt-key-file',
    'string',
    z.string().min(1).optional(),
    'Static verification keys instead of a JWKS URL: a JWKS document or one PEM public key.',
    '(none)',
  ),
  field(
    'jwtAlgorithms',
    'jwt-algorithms',
    'string',
    z.string().min(1).default('RS256,PS256,ES256,EdDSA'),
    'Comma-separated JWS algorithms accepted. "none" never is; HS256/384/512 only with a key file of symmetric keys.',
  ),
  field(
    'jwtClockSkewSeconds',
    'jwt-clock-skew-seconds',
    'integer',
    int(0, 300).default(30),
    'Tolerance for exp, nbf and iat, in seconds.',
  ),
  field(
    'jwtMaxAgeSeconds',
    'jwt-max-age-seconds',
    'integer',
    int(1, 31_536_000).optional(),
    'Refuse tokens issued (iat) longer ago than this, in seconds.',
    '(exp decides)',
  ),
  field(
    'jwtType',
    'jwt-type',
    'string',
    z.string().min(1).optional(),
    'Required JWT `typ` header, e.g. at+jwt (RFC 9068 access tokens).',
    '(not checked)',
  ),
  field(
    'jwtJwksCooldownMs',
    'jwt-jwks-cooldown-ms',
    'integer',
    int(0, 3_600_000).default(30_000),
    'Least time between two JWKS fetches, in ms: bounds refreshes caused by tokens with unknown key ids.',
  ),
  field(
    'jwtJwksCacheMaxAgeMs',
    'jwt-jwks-cache-max-age-ms',
    'integer',
    int(1_000, 86_400_000).default(600_000),
    'Longest a fetched JWKS is used before it is fetched again, in ms.',
  ),
  field(
    'jwtJwksTimeoutMs',
    'jwt-jwks-timeout-ms',
    'integer',
    int(100, 60_000).default(5_000),
    'Deadline of one JWKS fetch, in ms.',
  ),
  field(
    'jwtCacheEntries',
    'jwt-cache-entries',
    'integer',
    int(0, 10_000_000).default(10_000),
    'Verified tokens remembered (by SHA-256 digest) until they expire; 0 verifies every request.',
  ),
  field(
    'jwtCacheMaxTtlMs',
    'jwt-cache-max-ttl-ms',
    'integer',
    int(0, 86_400_000).default(300_000),
    'Longest a verified token is remembered, in ms, even if it expires later (a key withdrawn from the JWKS stops counting within this time).',
  ),
  field(
    'jwtClaimSubject',
    'jwt-claim-subject',
    'string',
    z.string().min(1).default('sub'),
    'Claim path(s) of the subject, the agent id the policy sees (comma-separated, first present wins).',
  ),
  field(
    'jwtClaimClientId',
    'jwt-claim-client-id',
    'string',
    z.string().min(1).default('client_id,azp'),
    'Claim path(s) of the OAuth client id (an HTTPS URL under Client ID Metadata Documents).',
  ),
  field(
    'jwtClaimScopes',
    'jwt-claim-scopes',
    'string',
    z.string().min(1).default('scope,scp'),
    'Claim path(s) of the granted scopes: a space-separated string or an array.',
  ),
  field(
    'jwtClaimRoles',
    'jwt-claim-roles',
    'string',
    z.string().min(1).default('roles'),
    'Claim path(s) of the roles, e.g. realm_access.roles.',
  ),
  field(
    'jwtClaimTeams',
    'jwt-claim-teams',
    'string',
    z.string().min(1).default('teams,groups'),
    'Claim path(s) of the teams; the first is the primary team.',
  ),
  field(
    'jwtClaimTenant',
    'jwt-claim-tenant',
    'string',
    z.string().min(1).default('tenant'),
    'Claim path(s) of the tenant.',
  ),
  field(
    'jwtClaimTrustLevel',
    'jwt-claim-trust-level',
    'string',
    z.string().min(1).default('trust_level'),
    'Claim path(s) of the trust level.',
  ),
  field(
    'jwtClaimEnvironment',
    'jwt-claim-environment',
    'string',
    z.string().min(1).default('environment'),
    'Claim path(s) of the environment.',
  ),
  // The upstream's own token (no token passthrough: the client's Authorization never reaches the upstream).
  field(
    'upstreamAuth',
    'upstream-auth',
    'enum',
    z.enum(['none', 'client_credentials', 'token_exchange']).default('none'),
    "Credential SARK sends the upstream: none, a client-credentials token of its own, or an RFC 8693 token exchanged for the caller's access token.",
  ),
  field(
    'upstreamTokenUrl',
    'upstream-token-url',
    'url',
    httpUrl.optional(),
    'Token endpoint for upstreamAuth.',
    '(none)',
  ),
  field(
    'upstreamClientId',
    'upstream-client-id',
    'string',
    z.string().min(1).optional(),
    "SARK's client id at that token endpoint.",
    '(none)',
  ),
  field(
    'upstreamClientSecret',
    'upstream-client-secret',
    'string',
    z.string().min(1).optional(),
    "SARK's client secret (prefer the environment variable).",
    '(none)',
  ),
  field(
    'upstreamTokenResource',
    'upstream-token-resource',
    'string',
    z.string().min(1).optional(),
    'Resource (RFC 8707) and audience (RFC 8693) of the upstream token, e.g. the upstream MCP URL.',
    '(none)',
  ),
  field(
    'upstreamTokenScope',
    'upstream-token-scope',
    'string',
    z.string().min(1).optional(),
    'Scope requested for the upstream token.',
    '(none)',
  ),
  field(
    'upstreamTokenTimeoutMs',
    'upstream-token-timeout-ms',
    'integer',
    int(100, 60_000).default(5_000),
    'Deadline of one upstream token request, in ms.',
  ),
  field(
    'auditFile',
    'audit-file',
    'string',
    z.string().min(1).optional(),
    'Append one NDJSON audit event per decision to this file; "off" disables it. Its directory must exist and be writable (checked at start-up). Unset: ./sark-audit.ndjson when neither auditClickhouseUrl nor auditStdout is set, none otherwise (docs/audit.md). The container image sets /var/lib/sark/audit.ndjson.',
    '(./sark-audit.ndjson without ClickHouse or stdout)',
  ),
  field(
    'auditFileMaxBytes',
    'audit-file-max-bytes',
    'integer',
    int(0, 2 ** 50).default(100 * 1024 * 1024),
    'Size at which the audit file is rotated, in bytes (to <file>.1, the older ones shifted up); 0: never rotated.',
  ),
  field(
    'auditFileMaxFiles',
    'audit-file-max-files',
    'integer',
    int(1, 1000).default(4),
    'Rotated audit files kept beside the live one; the oldest is deleted. The files take at most (auditFileMaxFiles + 1) × auditFileMaxBytes.',
  ),
  field(
    'auditStdout',
    'audit-stdout',
    'boolean',
    bool.default(false),
    "Write one NDJSON audit event per decision to standard output, for containers whose log collector ships it (SARK's own logs go to standard error).",
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
  // MCP Gateway Registry client (docs/registry.md), off unless gatewayEnabled.
  aliased(
    field(
      'gatewayEnabled',
      'gateway-enabled',
      'boolean',
      bool.default(false),
      'Read servers and tools from an MCP Gateway Registry and give them to the policy (input.server.registry, input.tool.registry). Off: the policy input is exactly as without a registry.',
    ),
    'GATEWAY_ENABLED',
  ),
  aliased(
    field(
      'gatewayUrl',
      'gateway-url',
      'url',
      httpUrl.optional(),
      'Base URL of the MCP Gateway Registry, e.g. https://registry.example.internal. Required when gatewayEnabled.',
      '(none)',
    ),
    'GATEWAY_URL',
  ),
  aliased(
    field(
      'gatewayApiKey',
      'gateway-api-key',
      'string',
      z.string().min(1).optional(),
      'Bearer token SARK presents to the registry (Authorization: Bearer …). Never logged.',
      '(none)',
    ),
    'GATEWAY_API_KEY',
  ),
  field(
    'gatewayServerPath',
    'gateway-server-path',
    'string',
    z
      .string()
      .regex(/^\/[A-Za-z0-9._~:@!$&'()*+,;=/-]*$/, 'expected a registry path such as /fininfo')
      .optional(),
    'Registry path of the protected server, when it is not /<serverId>.',
    '(/<serverId>)',
  ),
  field(
    'gatewayTimeoutMs',
    'gateway-timeout-ms',
    'integer',
    int(1, 120_000).default(5_000),
    'Deadline for one registry HTTP call (headers and body), in ms.',
  ),
  field(
    'gatewayRetries',
    'gateway-retries',
    'integer',
    int(0, 10).default(2),
    'Retries of a failed registry GET (timeouts, resets, 429, 5xx), with exponential backoff and full jitter.',
  ),
  field(
    'gatewayRetryBaseMs',
    'gateway-retry-base-ms',
    'integer',
    int(1, 60_000).default(200),
    'First retry backoff ceiling, in ms; doubled on each retry, capped by gatewayRetryMaxMs.',
  ),
  field(
    'gatewayRetryMaxMs',
    'gateway-retry-max-ms',
    'integer',
    int(1, 300_000).default(5_000),
    'Largest retry backoff, in ms (a Retry-After from the registry is honoured up to this).',
  ),
  field(
    'gatewayRefreshIntervalMs',
    'gateway-refresh-interval-ms',
    'integer',
    int(1_000, 86_400_000).default(30_000),
    'How often the registry data is re-read in the background, in ms.',
  ),
  field(
    'gatewayCacheTtlMs',
    'gateway-cache-ttl-ms',
    'integer',
    int(1_000, 604_800_000).default(120_000),
    'Age past which the registry data is stale, in ms: still served (never dropped for older or no data), and flagged in /readyz and sark_registry_staleness_seconds.',
  ),
  field(
    'gatewayStartupWaitMs',
    'gateway-startup-wait-ms',
    'integer',
    int(0, 600_000).default(5_000),
    'How long start-up waits for the first registry read, in ms; past it SARK serves without registry data (policies that require it deny).',
  ),
  field(
    'gatewayPageSize',
    'gateway-page-size',
    'integer',
    int(1, 1_000).default(100),
    'Servers per page of GET /v0.1/servers.',
  ),
  field(
    'gatewayConcurrency',
    'gateway-concurrency',
    'integer',
    int(1, 64).default(4),
    'Registry calls in flight at once during a refresh (server details and tool lists).',
  ),
  field(
    'gatewayMaxResponseBytes',
    'gateway-max-response-bytes',
    'integer',
    int(1_024, 268_435_456).default(8 * 1024 * 1024),
    'Largest registry response body read, in bytes; a larger one is a failed call.',
  ),
  field(
    'gatewayBreakerResetMs',
    'gateway-breaker-reset-ms',
    'integer',
    int(100, 3_600_000).default(30_000),
    'After the registry circuit breaker opens (half the calls of a refresh failing), how long until one call probes it again, in ms.',
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
