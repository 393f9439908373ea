/**
 * The error catalogue. Every error SARK answers or logs is one of these kinds,
 * each with a stable `SARK_*` code (listed in docs/errors.md, pinned by
 * test/unit/errors.test.ts), the HTTP status and JSON-RPC code it maps to, and
 * a message that is safe to show to a client. The same `reason` (snake_case) is
 * the label on deny and error metrics, as in the OPA-Envoy plugin.
 *
 * JSON-RPC codes: -32700/-32600/-32601/-32602/-32603 are the JSON-RPC 2.0
 * standard codes; -32020 (header/body disagreement) and -32022 (unsupported
 * protocol version, with `data.supported`, which v2 clients use to fall back)
 * are the codes MCP 2026-07-28 servers use; -32001..-32017 are SARK's own, in the
 * implementation-defined server-error range (-32000..-32099).
 */

export interface ErrorKind {
  readonly code: string;
  readonly reason: string;
  readonly httpStatus: number;
  readonly rpcCode: number;
  readonly message: string;
}

function kind(code: string, reason: string, httpStatus: number, rpcCode: number, message: string): ErrorKind {
  return Object.freeze({ code, reason, httpStatus, rpcCode, message });
}

export const ErrorKinds = Object.freeze({
  SARK_PARSE_ERROR: kind('SARK_PARSE_ERROR', 'parse_error', 400, -32700, 'Parse error: the body is not valid JSON'),
  SARK_INVALID_REQUEST: kind(
    'SARK_INVALID_REQUEST',
    'invalid_request',
    400,
    -32600,
    'Invalid Request: the body is not a JSON-RPC 2.0 message',
  ),
  SARK_UNSUPPORTED_MEDIA_TYPE: kind(
    'SARK_UNSUPPORTED_MEDIA_TYPE',
    'unsupported_media_type',
    415,
    -32600,
    'Unsupported Media Type: MCP messages must be sent as application/json',
  ),
  SARK_BODY_TOO_LARGE: kind(
    'SARK_BODY_TOO_LARGE',
    'body_too_large',
    413,
    -32600,
    'Payload Too Large: the body exceeds the configured limit',
  ),
  SARK_REQUEST_TIMEOUT: kind(
    'SARK_REQUEST_TIMEOUT',
    'request_timeout',
    408,
    -32600,
    'Request Timeout: the request was not received in time',
  ),
  SARK_TOO_MANY_CONNECTIONS: kind(
    'SARK_TOO_MANY_CONNECTIONS',
    'too_many_connections',
    503,
    -32016,
    'Service Unavailable: too many open connections, retry later',
  ),
  SARK_METHOD_NOT_ALLOWED: kind(
    'SARK_METHOD_NOT_ALLOWED',
    'http_method_not_allowed',
    405,
    -32600,
    'Method Not Allowed: the MCP endpoint accepts POST, GET and DELETE',
  ),
  SARK_NOT_FOUND: kind('SARK_NOT_FOUND', 'not_found', 404, -32600, 'Not Found: this path is not an MCP endpoint'),
  SARK_BATCH_REJECTED: kind(
    'SARK_BATCH_REJECTED',
    'batch_rejected',
    400,
    -32600,
    'Invalid Request: JSON-RPC batches are not accepted here',
  ),
  SARK_UNSUPPORTED_PROTOCOL_VERSION: kind(
    'SARK_UNSUPPORTED_PROTOCOL_VERSION',
    'unsupported_protocol_version',
    400,
    -32022,
    'Unsupported protocol version',
  ),
  SARK_HEADER_MISMATCH: kind(
    'SARK_HEADER_MISMATCH',
    'header_mismatch',
    400,
    -32020,
    'Bad Request: the request headers and body disagree',
  ),
  SARK_UNAUTHENTICATED: kind(
    'SARK_UNAUTHENTICATED',
    'unauthenticated',
    401,
    -32001,
    'Unauthorized: valid credentials are required',
  ),
  SARK_TOKEN_INVALID: kind(
    'SARK_TOKEN_INVALID',
    'token_invalid',
    401,
    -32001,
    'Unauthorized: the access token is invalid',
  ),
  SARK_TOKEN_EXPIRED: kind(
    'SARK_TOKEN_EXPIRED',
    'token_expired',
    401,
    -32001,
    'Unauthorized: the access token has expired',
  ),
  SARK_TOKEN_AUDIENCE: kind(
    'SARK_TOKEN_AUDIENCE',
    'token_audience',
    401,
    -32001,
    'Unauthorized: the access token was not issued for this resource',
  ),
  SARK_TOKEN_KEYS_UNAVAILABLE: kind(
    'SARK_TOKEN_KEYS_UNAVAILABLE',
    'token_keys_unavailable',
    503,
    -32007,
    'Service Unavailable: the keys that verify access tokens could not be obtained',
  ),
  SARK_INSUFFICIENT_SCOPE: kind(
    'SARK_INSUFFICIENT_SCOPE',
    'insufficient_scope',
    403,
    -32008,
    'Forbidden: the access token lacks the scopes this operation requires',
  ),
  SARK_POLICY_DENIED: kind('SARK_POLICY_DENIED', 'policy_denied', 200, -32002, 'Forbidden: denied by policy'),
  SARK_POLICY_UNAVAILABLE: kind(
    'SARK_POLICY_UNAVAILABLE',
    'policy_unavailable',
    200,
    -32003,
    'Forbidden: no policy decision could be obtained, so the request is denied',
  ),
  SARK_POLICY_TIMEOUT: kind(
    'SARK_POLICY_TIMEOUT',
    'policy_timeout',
    200,
    -32003,
    'Forbidden: the policy decision timed out, so the request is denied',
  ),
  SARK_POLICY_MALFORMED: kind(
    'SARK_POLICY_MALFORMED',
    'policy_malformed',
    200,
    -32003,
    'Forbidden: the policy returned no valid decision, so the request is denied',
  ),
  SARK_POLICY_CIRCUIT_OPEN: kind(
    'SARK_POLICY_CIRCUIT_OPEN',
    'policy_circuit_open',
    200,
    -32003,
    'Forbidden: the policy engine is failing and its circuit breaker is open, so the request is denied',
  ),
  SARK_RATE_LIMITED: kind('SARK_RATE_LIMITED', 'rate_limited', 429, -32004, 'Too Many Requests: rate limit exceeded'),
  SARK_UPSTREAM_UNAVAILABLE: kind(
    'SARK_UPSTREAM_UNAVAILABLE',
    'upstream_unavailable',
    502,
    -32005,
    'Bad Gateway: the MCP server could not be reached',
  ),
  SARK_UPSTREAM_TIMEOUT: kind(
    'SARK_UPSTREAM_TIMEOUT',
    'upstream_timeout',
    504,
    -32006,
    'Gateway Timeout: the MCP server did not answer in time',
  ),
  SARK_SESSION_NOT_FOUND: kind(
    'SARK_SESSION_NOT_FOUND',
    'session_not_found',
    404,
    -32009,
    'Not Found: the session does not exist; start a new one',
  ),
  SARK_LIMIT_EXCEEDED: kind(
    'SARK_LIMIT_EXCEEDED',
    'limit_exceeded',
    400,
    -32600,
    'Invalid Request: the message exceeds a configured limit',
  ),
  SARK_OBLIGATION_UNSUPPORTED: kind(
    'SARK_OBLIGATION_UNSUPPORTED',
    'obligation_unsupported',
    200,
    -32003,
    'Forbidden: the policy decision carries an obligation SARK cannot apply, so the request is denied',
  ),
  SARK_RESPONSE_UNFILTERABLE: kind(
    'SARK_RESPONSE_UNFILTERABLE',
    'response_unfilterable',
    502,
    -32010,
    'Bad Gateway: the MCP server answered in a form SARK cannot filter as the policy requires',
  ),
  SARK_UPSTREAM_RESPONSE_TOO_LARGE: kind(
    'SARK_UPSTREAM_RESPONSE_TOO_LARGE',
    'upstream_response_too_large',
    502,
    -32011,
    'Bad Gateway: the MCP server answered with more than SARK may hold to filter it',
  ),
  SARK_HOST_NOT_ALLOWED: kind(
    'SARK_HOST_NOT_ALLOWED',
    'host_not_allowed',
    403,
    -32012,
    'Forbidden: the Host header names a host this server does not answer for',
  ),
  SARK_ORIGIN_NOT_ALLOWED: kind(
    'SARK_ORIGIN_NOT_ALLOWED',
    'origin_not_allowed',
    403,
    -32013,
    'Forbidden: requests from this Origin are not allowed',
  ),
  SARK_SUBJECT_MISMATCH: kind(
    'SARK_SUBJECT_MISMATCH',
    'subject_mismatch',
    403,
    -32014,
    'Forbidden: a decision may only be asked for the authenticated caller itself',
  ),
  SARK_AUDIT_UNAVAILABLE: kind(
    'SARK_AUDIT_UNAVAILABLE',
    'audit_unavailable',
    503,
    -32015,
    'Service Unavailable: the audit store cannot be queried (no ClickHouse is configured, or it did not answer)',
  ),
  SARK_REGISTRY_UNAVAILABLE: kind(
    'SARK_REGISTRY_UNAVAILABLE',
    'registry_unavailable',
    503,
    -32017,
    'Service Unavailable: the MCP Gateway Registry could not be read',
  ),
  SARK_REGISTRY_MALFORMED: kind(
    'SARK_REGISTRY_MALFORMED',
    'registry_malformed',
    502,
    -32017,
    'Bad Gateway: the MCP Gateway Registry sent an answer SARK cannot read',
  ),
  SARK_INTERNAL: kind('SARK_INTERNAL', 'internal_error', 500, -32603, 'Internal error'),
  SARK_CONFIG_INVALID: kind('SARK_CONFIG_INVALID', 'config_invalid', 500, -32603, 'Invalid configuration'),
  SARK_INJECT_REFUSED: kind(
    'SARK_INJECT_REFUSED',
    'inject_refused',
    400,
    -32600,
    'SARK sidecar injection refused this pod',
  ),
} as const);

export type ErrorCode = keyof typeof ErrorKinds;

/**
 * A catalogue error. `detail` is for logs and operators; `publicDetail`, when
 * set, is appended to the safe message shown to clients (it must never carry
 * secrets or internal addresses).
 */
export class SarkError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly publicDetail: string | undefined;
  readonly data: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    options: { detail?: string; publicDetail?: string; data?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    const k = ErrorKinds[code];
    // Refusals are outcomes, not bugs: no stack trace (building one was a visible
    // cost of every deny in a CPU profile). Internal errors keep theirs.
    const limit = Error.stackTraceLimit;
    if (code !== 'SARK_INTERNAL') Error.stackTraceLimit = 0;
    super(options.detail ? `${k.message}: ${options.detail}` : k.message, { cause: options.cause });
    Error.stackTraceLimit = limit;
    this.name = 'SarkError';
    this.code = code;
    this.kind = k;
    this.publicDetail = options.publicDetail;
    this.data = options.data;
  }

  /** The text a client may see. */
  get safeMessage(): string {
    return this.publicDetail ? `${this.kind.message}: ${this.publicDetail}` : this.kind.message;
  }
}

/** Raised for configuration problems at start-up; the message names the field. */
export class ConfigError extends SarkError {
  constructor(detail: string) {
    super('SARK_CONFIG_INVALID', { detail });
    this.name = 'ConfigError';
  }
}

export function isSarkError(err: unknown): err is SarkError {
  return err instanceof SarkError;
}
