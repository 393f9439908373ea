/**
 * The audit event: one per policy decision, versioned (`schema_version`), flat
 * and snake_case so that the same object is a ClickHouse JSONEachRow row, a
 * Splunk HEC `event` and a Datadog log. Field meanings: docs/audit.md.
 *
 * Arguments are never recorded raw: every event carries a digest of the
 * canonical JSON of the arguments as forwarded (after the decision's edits),
 * and only a decision whose `audit.level` is "full" adds a copy, with the
 * secret heuristic applied on top (record/facts.ts).
 */
import { argumentsDigest as digestOf } from '../mcp/canonical-json.ts';

export const AUDIT_SCHEMA_VERSION = 3;

export type AuditDecision = 'allow' | 'deny';

export interface AuditEvent {
  readonly schema_version: number;
  /** Decision time, unix ms. */
  readonly ts_ms: number;
  /** Unique per row: the request id, with `#index` for later batch elements and `.k` for implied decisions. */
  readonly request_id: string;
  /** The one id of the HTTP request (or CheckRequest) every row of it shares; clients see it in errors. */
  readonly http_request_id: string;
  /** Position of the message in its batch (0 for a single message). */
  readonly message_index: number;
  /** For a decision the message implied (a subscription's resource, a completion's prompt): that message's method. */
  readonly implied_by: string | null;
  readonly session_id: string | null;
  readonly agent_id: string;
  readonly agent_type: string;
  readonly tenant: string | null;
  readonly server_id: string;
  readonly method: string | null;
  readonly action: string;
  readonly tool: string | null;
  readonly era: string | null;
  readonly decision: AuditDecision;
  readonly reasons: readonly string[];
  readonly policy_revision: string | null;
  readonly cache_hit: boolean;
  /** Receipt of the request to the end of SARK's answer, in ms. */
  readonly total_ms: number;
  readonly policy_ms: number;
  /** Until the MCP server answered with headers; null when not forwarded. */
  readonly upstream_ms: number | null;
  readonly upstream_status: number | null;
  readonly client_address: string | null;
  /** W3C trace-context trace-id of the request's `traceparent`, if valid. */
  readonly trace_id: string | null;
  /** sha256 (hex) of the canonical JSON of the arguments; null when there are none. */
  readonly args_digest: string | null;
  /** The forwarded arguments, secrets redacted, as JSON text; only at audit level "full". */
  readonly args_redacted: string | null;
}

// W3C Trace Context §3.2: version "00", 32 hex trace-id (not all zero), 16 hex parent-id, 2 hex flags.
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}(-|$)/;

export function traceIdOf(traceparent: string | undefined): string | null {
  if (traceparent === undefined) return null;
  const m = TRACEPARENT.exec(traceparent.trim());
  if (!m || traceparent.startsWith('ff') || /^0+$/.test(m[1]!)) return null;
  return m[1]!;
}

export function argumentsDigest(args: Readonly<Record<string, unknown>> | undefined): string | null {
  if (args === undefined) return null;
  return digestOf(args);
}

export const REDACTED = '[redacted]';
/** Keys whose values are credentials, compared without case, '-' or '_'. */
const SECRET_KEY =
  /pass(word|wd|phrase)?$|secret|token|apikey|authorization|credential|privatekey|cookie|^auth$|signature/;
/** Values that are credentials whatever their key: bearer/basic headers, JWTs, PEM keys. */
const SECRET_VALUE =
  /^(bearer|basic|splunk)\s+\S|^ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.|-----BEGIN [A-Z ]*PRIVATE KEY-----/i;
const MAX_REDACTED_CHARS = 8192;
const MAX_DEPTH = 32;

/** A copy of `value` with credential-looking keys and values replaced, recursively. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return REDACTED;
  if (typeof value === 'string') return SECRET_VALUE.test(value) ? REDACTED : value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k.toLowerCase().replace(/[-_]/g, '')) ? REDACTED : redact(v, depth + 1);
  }
  return out;
}

/** Redacted arguments as JSON text, cut to a bounded size (the digest still covers the whole). */
export function redactedArguments(args: unknown): string | null {
  if (args === undefined) return null;
  const text = JSON.stringify(redact(args));
  return text.length <= MAX_REDACTED_CHARS
    ? text
    : JSON.stringify({ truncated: true, prefix: text.slice(0, MAX_REDACTED_CHARS) });
}
