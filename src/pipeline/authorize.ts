/**
 * Authorizing one classified message for a known identity: the policy
 * decision, then what an allow still requires before forwarding — valid
 * obligations, the rate limit, every resource a subscription covers, task
 * ownership — and the answer rewrites that go with it. Never throws: every
 * failure on the way is a refusal (fail closed).
 */
import type { IncomingMessage } from 'node:http';
import type { Decision } from '../decide/decision.ts';
import type { Decide } from '../decide/engine.ts';
import { buildInput } from '../decide/input.ts';
import { applyArgumentObligation, obligationsOf } from '../decide/obligations.ts';
import type { RateLimit } from '../decide/rate-limit.ts';
import { SarkError } from '../errors.ts';
import { type ResultRewrite, rewriteFor } from '../forward/result-filter.ts';
import { TaskBindings } from '../forward/tasks.ts';
import type { ResponseShape } from '../forward/upstream.ts';
import type { Identity } from '../identity/resolve.ts';
import type { HeaderLookup, McpMessage } from '../mcp/classify.ts';
import type { JsonRpcMessage } from '../mcp/jsonrpc.ts';
import { type Logger, requestFields } from '../observe/logger.ts';
import type { SarkMetrics } from '../observe/metrics.ts';
import { type RequestSpan, traceIdOf } from '../observe/tracing.ts';
import type { AuditFacts } from '../record/facts.ts';
import { denyText, isTaskAugmented, requestMeta } from './messages.ts';

/** The outcome of authorizing one message. */
export interface Verdict {
  readonly facts: AuditFacts;
  /** Why SARK refuses the message (policy deny, no valid decision, rate limit, bad obligation). */
  readonly refusal: SarkError | undefined;
  readonly retryAfterSeconds: number | undefined;
  /** The message to forward: the authorized one with its argument obligations applied. */
  readonly forward: JsonRpcMessage | undefined;
  readonly rewrite: ResultRewrite | undefined;
  /** For a subscription stream: drops notifications the caller may not see. */
  readonly dropNotification?: DropNotification | undefined;
}

export type DropNotification = NonNullable<ResponseShape['dropNotification']>;

export interface AuthorizerDeps {
  readonly serverId: string;
  readonly decide: Decide;
  readonly rateLimit?: RateLimit | undefined;
  readonly metrics: SarkMetrics;
  readonly logger: Logger;
}

export class Authorizer {
  readonly #serverId: string;
  readonly #decide: Decide;
  readonly #rateLimit: RateLimit | undefined;
  readonly #metrics: SarkMetrics;
  readonly #logger: Logger;
  readonly #tasks = new TaskBindings();
  #lastFailureLogMs = 0;
  #suppressedFailures = 0;

  constructor(deps: AuthorizerDeps) {
    this.#serverId = deps.serverId;
    this.#decide = deps.decide;
    this.#rateLimit = deps.rateLimit;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger;
  }

  /** identity is known → policy decision → obligations → rate limit. Never throws. */
  async authorize(
    req: IncomingMessage,
    path: string,
    msg: McpMessage,
    identity: Identity,
    headers: HeaderLookup,
    t0: number,
    span?: RequestSpan,
  ): Promise<Verdict> {
    const meta = requestMeta(req, path);
    const input = buildInput(this.#serverId, msg, identity, meta);
    const started = performance.now();
    // The decide stage counts and times the decision (sark_decisions_total, sark_decision_duration_seconds).
    const decision: Decision = await this.#decide(input, span);
    const policyMs = performance.now() - started;
    span?.setAttributes({ 'sark.request_id': meta.requestId });
    const traceparent = headers.traceparent?.[0];
    const facts: AuditFacts = { meta, msg, identity, decision, policyMs, t0, traceparent };
    if (!decision.allow) {
      if (decision.failure) this.logPolicyFailure(decision.failure, meta.requestId, traceIdOf(span, headers));
      const refusal =
        decision.failure ?? new SarkError('SARK_POLICY_DENIED', { publicDetail: denyText(decision.reasons) });
      return { facts, refusal, retryAfterSeconds: undefined, forward: undefined, rewrite: undefined };
    }
    try {
      // A malformed obligation is a policy error: deny (fail closed).
      const obligations = obligationsOf(decision);
      const limited = await this.#rateLimit?.(input, decision);
      if (limited) {
        return refused(facts, limited.error, limited.retryAfterSeconds);
      }
      let dropNotification: DropNotification | undefined;
      if (msg.method === 'subscriptions/listen') {
        const covered = await this.#subscription(req, path, msg, identity, span);
        if (covered instanceof SarkError) {
          return refused(facts, covered);
        }
        dropNotification = (n) =>
          n.method === 'notifications/resources/updated' && !covered.has(String(n.params?.uri ?? ''));
      }
      let rewrite = rewriteFor(msg, obligations);
      if (msg.method?.startsWith('tasks/')) {
        const tasks = this.#tasks;
        if (msg.method === 'tasks/list') {
          rewrite = tasks.listFilter(identity.id);
        } else if (msg.name !== undefined) {
          const bound = tasks.get(msg.name);
          if (bound?.agentId !== identity.id) {
            const refusal = new SarkError('SARK_POLICY_DENIED', {
              publicDetail: 'the task does not exist or belongs to another agent (task_not_owned)',
            });
            return refused(facts, refusal);
          }
          // A task's result is filtered like the answer of the call that created it.
          if (msg.method === 'tasks/result') rewrite = bound.rewrite;
        }
      } else if (msg.kind === 'request' && isTaskAugmented(msg.message)) {
        rewrite = this.#tasks.binder(identity.id, rewrite);
      }
      let forward = msg.message;
      if (obligations.arguments && 'method' in forward && forward.params) {
        forward = {
          ...forward,
          params: { ...forward.params, arguments: applyArgumentObligation(msg.arguments, obligations.arguments) },
        };
      }
      return {
        facts,
        refusal: undefined,
        retryAfterSeconds: undefined,
        forward,
        rewrite,
        dropNotification,
      };
    } catch (err) {
      const refusal =
        err instanceof SarkError ? err : new SarkError('SARK_POLICY_MALFORMED', { detail: String(err), cause: err });
      this.logPolicyFailure(refusal, meta.requestId, traceIdOf(span, headers));
      return refused(facts, refusal);
    }
  }

  /**
   * MCP 2026-07-28 `subscriptions/listen`: every resource the subscription
   * covers is authorized like a read; one the agent may not read refuses the
   * subscription. Resolves with the covered URIs, whose updates may pass.
   */
  async #subscription(
    req: IncomingMessage,
    path: string,
    msg: McpMessage,
    identity: Identity,
    span: RequestSpan | undefined,
  ): Promise<Set<string> | SarkError> {
    const params = 'params' in msg.message ? msg.message.params : undefined;
    const uris = (params?.notifications as { resourceSubscriptions?: unknown } | undefined)?.resourceSubscriptions;
    const covered = new Set<string>();
    if (!Array.isArray(uris)) return covered;
    for (const uri of uris) {
      if (typeof uri !== 'string') {
        return new SarkError('SARK_INVALID_REQUEST', { publicDetail: 'resource URIs must be strings' });
      }
      const read: McpMessage = {
        ...msg,
        method: 'resources/read',
        action: 'gateway:resource:read',
        name: uri,
        arguments: undefined,
      };
      const d = await this.#decide(buildInput(this.#serverId, read, identity, requestMeta(req, path)), span);
      if (!d.allow) {
        return (
          d.failure ??
          new SarkError('SARK_POLICY_DENIED', {
            publicDetail: `the subscription covers a resource the agent may not read: ${denyText(d.reasons) ?? 'denied'}`,
          })
        );
      }
      covered.add(uri);
    }
    return covered;
  }

  /**
   * A policy outage denies every request: log the first failure and then at
   * most one line a second with the count suppressed, not one per request.
   * The line carries the ids of the request that wrote it.
   */
  logPolicyFailure(failure: SarkError, requestId?: string, traceId?: string): void {
    const now = Date.now();
    if (now - this.#lastFailureLogMs < 1000) {
      this.#suppressedFailures++;
      return;
    }
    this.#logger.warn(
      {
        ...requestFields(requestId, traceId),
        code: failure.code,
        detail: failure.message,
        suppressed: this.#suppressedFailures,
      },
      'no valid policy decision: request denied (fail-closed)',
    );
    this.#lastFailureLogMs = now;
    this.#suppressedFailures = 0;
  }
}

/** A refusal SARK adds to an allow decision (rate limit, bad obligation, …): audited as a deny with its reason. */
function refused(facts: AuditFacts, refusal: SarkError, retryAfterSeconds?: number): Verdict {
  return { facts: { ...facts, refused: refusal }, refusal, retryAfterSeconds, forward: undefined, rewrite: undefined };
}

export function refusalData(v: Verdict): Record<string, unknown> {
  const reasons =
    v.refusal?.code === 'SARK_POLICY_DENIED' ? v.facts.decision.reasons : [{ code: v.refusal!.kind.reason }];
  return { reasons, request_id: v.facts.meta.requestId };
}
