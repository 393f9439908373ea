/**
 * Builds the audit event for one decision from what the pipeline knows about
 * it. `decision` is the policy's answer; `refused` is set when SARK refused an
 * allowed message anyway (rate limit, malformed obligation), and the event
 * then records the outcome the client got: a deny with SARK's reason.
 */
import type { Decision } from '../decide/decision.ts';
import type { RequestMeta } from '../decide/input.ts';
import { SarkError } from '../errors.ts';
import type { Identity } from '../identity/identity.ts';
import type { McpMessage } from '../mcp/classify.ts';
import {
  AUDIT_SCHEMA_VERSION,
  type AuditEvent,
  argumentsDigest,
  auditLevelOf,
  redactedArguments,
  traceIdOf,
} from './event.ts';

export interface AuditFacts {
  readonly meta: RequestMeta;
  readonly msg: McpMessage;
  readonly identity: Identity;
  readonly decision: Decision;
  readonly policyMs: number;
  /** performance.now() when the request arrived. */
  readonly t0: number;
  readonly traceparent: string | undefined;
  /** The upstream's answer (status, time to headers) or the error that replaced it. */
  readonly upstream?: { readonly status: number; readonly headersMs: number } | SarkError | undefined;
  readonly refused?: SarkError | undefined;
}

function ms(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export function auditEvent(serverId: string, f: AuditFacts): AuditEvent {
  const { meta, msg, identity, decision, refused, upstream } = f;
  const method = msg.method ?? null;
  const revision = decision.policyRevision ?? decision.document?.policy_revision;
  return {
    schema_version: AUDIT_SCHEMA_VERSION,
    ts_ms: meta.nowMs,
    request_id: meta.requestId,
    session_id: meta.sessionId ?? null,
    agent_id: identity.id,
    agent_type: identity.type,
    tenant: identity.tenant ?? null,
    server_id: serverId,
    method,
    action: msg.action,
    tool: method === 'tools/call' ? (msg.name ?? null) : null,
    era: msg.era,
    decision: decision.allow && refused === undefined ? 'allow' : 'deny',
    reasons: refused === undefined ? decision.reasons.map((r) => r.code) : [refused.kind.reason],
    policy_revision: typeof revision === 'string' ? revision : null,
    cache_hit: decision.cacheHit === true,
    total_ms: ms(performance.now() - f.t0),
    policy_ms: ms(f.policyMs),
    upstream_ms: upstream === undefined || upstream instanceof SarkError ? null : ms(upstream.headersMs),
    upstream_status:
      upstream === undefined ? null : upstream instanceof SarkError ? upstream.kind.httpStatus : upstream.status,
    client_address: meta.clientAddress ?? null,
    trace_id: traceIdOf(f.traceparent),
    args_digest: argumentsDigest(msg.arguments),
    args_redacted: auditLevelOf(decision.document) === 'arguments' ? redactedArguments(msg.arguments) : null,
  };
}
