/**
 * How the forward stage answers the decision API: nothing goes upstream;
 * the answer is the verdict itself, with what the enforcement point that
 * asked must apply — the edited arguments, and every obligation addressed to
 * the answer (it is the caller's to enforce: SARK never sees that answer).
 */
import type { ServerResponse } from 'node:http';
import type { Obligation } from '../decide/obligations.ts';
import { SarkError } from '../errors.ts';
import type { DecisionContext } from '../listen/decision-api.ts';
import type { AuditReader } from '../record/audit-query.ts';
import type { Answerer } from './answer.ts';
import type { Call, Exchange } from './exchange.ts';
import type { Port } from './ports.ts';

/** Registry facts to add to a listed server or tool, when a registry is configured. */
export interface CatalogueFacts {
  server(id: string): Record<string, unknown> | undefined;
  tool(serverId: string, name: string): Record<string, unknown> | undefined;
}

function send(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** An obligation as the enforcement point reads it (the functions SARK itself would run are described, not sent). */
export function describeObligation(o: Obligation): Record<string, unknown> {
  switch (o.kind) {
    case 'edit_arguments':
      return {
        kind: o.kind,
        stage: o.stage,
        replace: o.edit.replace !== null,
        drop: o.edit.drop,
        redact: o.edit.redact,
      };
    case 'filter_tools':
      return { kind: o.kind, stage: o.stage, visible: [...o.visible].sort() };
    case 'filter_items':
      return {
        kind: o.kind,
        stage: o.stage,
        list: o.list,
        rule: `keep an item only if ${o.list === 'prompts' ? 'prompts/get' : 'resources/read'} of it is allowed`,
      };
    case 'cap_ttl':
      return { kind: o.kind, stage: o.stage, max_ttl_ms: o.maxTtlMs };
    case 'drop_notifications':
      return { kind: o.kind, stage: o.stage, covered: [...o.covered] };
    case 'audit':
      return { kind: o.kind, stage: o.stage, level: o.level };
    case 'unknown':
      return { kind: o.name, stage: null };
    default:
      return { kind: o.kind, stage: o.stage };
  }
}

export class DecisionPort implements Port {
  readonly #answer: Answerer;
  readonly #audit: AuditReader | undefined;
  readonly #catalogue: CatalogueFacts | undefined;

  constructor(answer: Answerer, audit: AuditReader | undefined, catalogue?: CatalogueFacts) {
    this.#answer = answer;
    this.#audit = audit;
    this.#catalogue = catalogue;
  }

  async deliver(x: Exchange): Promise<void> {
    const res = x.intake.res!;
    const ctx = x.intake.context as DecisionContext;
    if (x.failure) return this.#error(res, x, x.failure);
    switch (ctx.endpoint) {
      case 'authorize':
      case 'authorize-a2a': {
        const c = x.calls[0]!;
        if (c.refusal && !c.verdict) return this.#error(res, x, c.refusal);
        // A body the A2A request model refuses is a bad request, not a deny.
        if (c.verdict?.refusal?.code === 'SARK_INVALID_REQUEST') return this.#error(res, x, c.verdict.refusal);
        return send(res, 200, this.#authorize(x, c));
      }
      case 'evaluation': {
        const c = x.calls[0]!;
        if (c.refusal && !c.verdict) return this.#error(res, x, c.refusal);
        return send(res, 200, evaluation(x, c));
      }
      case 'evaluations':
        return send(res, 200, { evaluations: x.calls.map((c) => evaluation(x, c)) });
      case 'servers':
      case 'tools':
      case 'audit': {
        const c = x.calls[0]!;
        const refused = c.refused;
        // A listing the policy refused: 403 with its reason (the HTTP 200 of JSON-RPC refusals is MCP's convention).
        if (refused) return this.#error(res, x, refused);
        if (ctx.endpoint === 'servers') return send(res, 200, this.#servers(x, c));
        if (ctx.endpoint === 'tools') return send(res, 200, this.#tools(x, c));
        if (!this.#audit)
          return this.#error(res, x, new SarkError('SARK_AUDIT_UNAVAILABLE', { detail: 'no auditClickhouseUrl' }));
        try {
          return send(res, 200, await this.#audit.page(ctx.audit!));
        } catch (err) {
          return this.#error(
            res,
            x,
            err instanceof SarkError ? err : new SarkError('SARK_AUDIT_UNAVAILABLE', { cause: err }),
          );
        }
      }
    }
  }

  #authorize(x: Exchange, c: Call): Record<string, unknown> {
    const v = c.verdict;
    const doc = v?.decision.document;
    const refused = c.refused;
    const out: Record<string, unknown> = {
      request_id: x.meta.requestId,
      decision: refused ? 'deny' : 'allow',
      allow: refused === undefined,
      reasons:
        refused && !(refused.code === 'SARK_POLICY_DENIED' || refused.code === 'SARK_INSUFFICIENT_SCOPE')
          ? [{ code: refused.kind.reason }]
          : (v?.decision.reasons ?? []),
    };
    if (refused) {
      out.code = refused.code;
      out.message = refused.safeMessage;
      const scopes = refused.data?.required_scopes;
      if (Array.isArray(scopes)) out.required_scopes = scopes;
      if (v?.retryAfterSeconds !== undefined) out.retry_after_seconds = v.retryAfterSeconds;
    } else if (c.arguments !== undefined) {
      out.arguments = c.arguments;
    }
    out.obligations = refused ? [] : (v?.obligations ?? []).map(describeObligation);
    const cache = doc?.cache as { ttl_seconds?: unknown; scope?: unknown } | undefined;
    out.cache =
      cache && typeof cache.ttl_seconds === 'number' && typeof cache.scope === 'string'
        ? { ttl_seconds: cache.ttl_seconds, scope: cache.scope }
        : null;
    const rev = v?.decision.policyRevision;
    out.policy_revision = typeof rev === 'string' ? rev : null;
    return out;
  }

  #servers(x: Exchange, c: Call): Record<string, unknown> {
    const listed = c.verdict?.decision.document?.visible_servers;
    const ids = Array.isArray(listed) ? listed.filter((s): s is string => typeof s === 'string') : [];
    return {
      request_id: x.meta.requestId,
      servers: ids.map((id) => ({ id, ...this.#catalogue?.server(id) })),
    };
  }

  #tools(x: Exchange, c: Call): Record<string, unknown> {
    const serverId = x.meta.serverId;
    // Exactly what tools/list would show: the policy's visible set; none if the policy named none (fail closed).
    const filter = c.verdict?.obligations.find((o) => o.kind === 'filter_tools');
    const names = filter?.kind === 'filter_tools' ? [...filter.visible].sort() : [];
    return {
      request_id: x.meta.requestId,
      server: serverId,
      tools: names.map((name) => ({ name, ...this.#catalogue?.tool(serverId, name) })),
    };
  }

  #error(res: ServerResponse, x: Exchange, err: SarkError): void {
    const challenge = this.#answer.challenge(err);
    const field = err.data?.field;
    send(
      res,
      err.kind.httpStatus === 200 ? 403 : err.kind.httpStatus,
      {
        error: {
          code: err.code,
          message: err.safeMessage,
          ...(typeof field === 'string' ? { field } : {}),
          ...(Array.isArray(err.data?.required_scopes) ? { required_scopes: err.data.required_scopes } : {}),
        },
        request_id: x.meta.requestId,
      },
      challenge ? { 'www-authenticate': challenge, 'x-sark-error': err.code } : { 'x-sark-error': err.code },
    );
  }
}

function evaluation(x: Exchange, c: Call): Record<string, unknown> {
  const refused = c.refused;
  const v = c.verdict;
  const reasons =
    refused &&
    v &&
    !v.decision.allow &&
    (refused.code === 'SARK_POLICY_DENIED' || refused.code === 'SARK_INSUFFICIENT_SCOPE')
      ? v.decision.reasons
      : refused
        ? [{ code: refused.kind.reason }]
        : [];
  return {
    decision: refused === undefined,
    context: {
      id: x.batch ? `${x.meta.requestId}#${c.index}` : x.meta.requestId,
      reason_admin: { reasons: reasons.map((r) => r.code), ...(refused ? { code: refused.code } : {}) },
      ...(refused ? { reason_user: { message: refused.safeMessage } } : {}),
      ...(refused === undefined && c.arguments !== undefined ? { arguments: c.arguments } : {}),
      ...(refused === undefined && v && v.obligations.length > 0
        ? { obligations: v.obligations.map(describeObligation) }
        : {}),
    },
  };
}
