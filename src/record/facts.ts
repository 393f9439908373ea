/**
 * The audit events of one message: its own decision, and every decision it
 * implied (each resource a subscription covers, the prompt or template a
 * completion references). All carry the request's one `http_request_id`;
 * `request_id` stays unique per row (the audit table de-duplicates replays
 * on it): the request id itself for the first message, with `#index` for
 * the other elements of a batch and `.k` for implied decisions.
 *
 * Arguments: only the arguments as forwarded — after the decision's argument
 * edits (its `drop` and `redact` pointers) — are ever recorded, digested or
 * (at audit level "full") kept, and the secret heuristic runs on top. A
 * refused message is forwarded nowhere, but the same edits are applied to
 * what the audit keeps of it. A value the policy redacted reaches no sink.
 */
import type { ImpliedDecision, Verdict } from '../decide/authorize.ts';
import type { Decision } from '../decide/decision.ts';
import { type ArgumentEdit, applyArgumentEdit, auditLevelOf, type ObligationKind } from '../decide/obligations.ts';
import { SarkError } from '../errors.ts';
import type { Identity } from '../identity/identity.ts';
import type { RequestMeta } from '../listen/intake.ts';
import type { McpMessage } from '../mcp/classify.ts';
import { AUDIT_SCHEMA_VERSION, type AuditEvent, argumentsDigest, redactedArguments, traceIdOf } from './event.ts';

/** The obligation kinds the record stage applies. */
export const RECORD_OBLIGATIONS: ReadonlySet<ObligationKind> = new Set<ObligationKind>(['audit']);

/** What the audit needs of the request (the pipeline's Exchange). */
export interface RequestFacts {
  readonly meta: RequestMeta;
  readonly batch: boolean;
  readonly identity: Identity | undefined;
  readonly failure: SarkError | undefined;
  /** The upstream's answer (status, time to headers) or the error that replaced it. */
  readonly upstream: { readonly status: number; readonly headersMs: number } | SarkError | undefined;
}

/** What the audit needs of one message (the pipeline's Call). */
export interface MessageFacts {
  readonly index: number;
  readonly msg: McpMessage | undefined;
  readonly verdict: Verdict | undefined;
  readonly refused: SarkError | undefined;
  /** The message as forwarded; undefined when it was not. */
  readonly outbound: unknown;
  /** The arguments as forwarded. */
  readonly arguments: Record<string, unknown> | undefined;
}

function ms(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export function auditEvents(x: RequestFacts, call: MessageFacts): AuditEvent[] {
  const main = eventOf(x, call, call.msg!, call.verdict?.decision, x.failure ?? call.refused, null, 0);
  const implied = call.verdict?.implied;
  if (!implied || implied.length === 0) return [main];
  const out = [main];
  for (let k = 0; k < implied.length; k++) out.push(impliedEvent(x, call, implied[k]!, k + 1));
  return out;
}

function impliedEvent(x: RequestFacts, call: MessageFacts, d: ImpliedDecision, k: number): AuditEvent {
  const refusal = d.decision.allow ? undefined : (d.decision.failure ?? new SarkError('SARK_POLICY_DENIED'));
  return eventOf(x, call, d.msg, d.decision, refusal, call.msg?.method ?? 'other', k, d.policyMs);
}

function eventOf(
  x: RequestFacts,
  call: MessageFacts,
  msg: McpMessage,
  decision: Decision | undefined,
  refusal: SarkError | undefined,
  impliedBy: string | null,
  k: number,
  policyMs = call.verdict?.policyMs ?? 0,
): AuditEvent {
  const meta = x.meta;
  const identity = x.identity;
  const upstream = impliedBy === null && refusal === undefined ? x.upstream : undefined;
  const method = msg.method ?? null;
  const revision = decision?.policyRevision ?? decision?.document?.policy_revision;
  const denyByPolicy =
    refusal !== undefined && decision !== undefined && !decision.allow && refusal.code === 'SARK_POLICY_DENIED';
  const args = impliedBy === null ? recordedArguments(call, decision) : undefined;
  let id = call.index === 0 && !x.batch ? meta.requestId : `${meta.requestId}#${call.index}`;
  if (k > 0) id += `.${k}`;
  return {
    schema_version: AUDIT_SCHEMA_VERSION,
    ts_ms: meta.nowMs,
    request_id: id,
    http_request_id: meta.requestId,
    message_index: call.index,
    implied_by: impliedBy,
    session_id: meta.sessionId ?? null,
    agent_id: identity?.id ?? 'unauthenticated',
    agent_type: identity?.type ?? 'anonymous',
    tenant: identity?.tenant ?? null,
    server_id: meta.serverId,
    method,
    action: msg.action,
    tool: method === 'tools/call' ? (msg.name ?? null) : null,
    era: msg.era,
    decision: refusal === undefined && decision?.allow === true ? 'allow' : 'deny',
    reasons:
      refusal === undefined || denyByPolicy ? (decision?.reasons.map((r) => r.code) ?? []) : [refusal.kind.reason],
    policy_revision: typeof revision === 'string' ? revision : null,
    cache_hit: decision?.cacheHit === true,
    total_ms: ms(performance.now() - meta.t0),
    policy_ms: ms(policyMs),
    upstream_ms: upstream === undefined || upstream instanceof SarkError ? null : ms(upstream.headersMs),
    upstream_status:
      upstream === undefined ? null : upstream instanceof SarkError ? upstream.kind.httpStatus : upstream.status,
    client_address: meta.clientAddress ?? null,
    trace_id: traceIdOf(meta.traceparent),
    args_digest: argumentsDigest(args),
    args_redacted: args !== undefined && auditLevelOf(decision?.document) === 'full' ? redactedArguments(args) : null,
  };
}

/**
 * The arguments the audit may see: as forwarded when the message was
 * forwarded; otherwise the client's, with the decision's argument edits
 * applied all the same. An edit the audit cannot read keeps nothing.
 */
function recordedArguments(call: MessageFacts, decision: Decision | undefined): Record<string, unknown> | undefined {
  if (call.outbound !== undefined) return call.arguments;
  const original = call.msg?.arguments;
  if (original === undefined) return undefined;
  const edit = editOf(decision);
  if (edit === null) return { redacted: true };
  return edit ? applyArgumentEdit(original, edit) : original;
}

/** The decision's argument edit; undefined for none, null when it is malformed (then nothing is kept). */
function editOf(decision: Decision | undefined): ArgumentEdit | undefined | null {
  const a = (decision?.document?.obligations as { arguments?: unknown } | undefined | null)?.arguments;
  if (a === undefined || a === null) return undefined;
  const { replace = null, drop = [], redact = [], placeholder } = a as Partial<ArgumentEdit>;
  const pointers = (p: unknown) => Array.isArray(p) && p.every((s) => typeof s === 'string' && s.startsWith('/'));
  if ((replace !== null && typeof replace !== 'object') || !pointers(drop) || !pointers(redact)) return null;
  return { replace, drop, redact, placeholder: typeof placeholder === 'string' ? placeholder : '[REDACTED]' };
}
