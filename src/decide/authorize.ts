/**
 * The decide stage for one classified message of a known caller:
 *
 *   ownership (session, legacy session, task) → policy decision (input,
 *   cache, breaker, engine) → decisions the message implies (every URI a
 *   subscription covers, the prompt or template a completion references)
 *   → the verdict's obligations → rate limit
 *
 * Never throws: every failure on the way is a refusal with a catalogue code
 * (fail closed). The verdict carries the obligations later stages must apply
 * or refuse; this stage applies none of them itself.
 */
import { SarkError } from '../errors.ts';
import type { Identity } from '../identity/identity.ts';
import type { RequestMeta } from '../listen/intake.ts';
import type { McpMessage } from '../mcp/classify.ts';
import type { JsonRpcMessage } from '../mcp/jsonrpc.ts';
import { type Logger, requestFields } from '../observe/logger.ts';
import { type RequestSpan, traceIdOf } from '../observe/tracing.ts';
import { type BindingKind, type Bindings, principalOf } from './bindings.ts';
import type { Decision } from './decision.ts';
import type { Decide } from './engine.ts';
import { buildInput } from './input.ts';
import { mapLimit } from './map-limit.ts';
import {
  type ItemJudge,
  type ItemList,
  type Obligation,
  obligationsOf,
  type SessionBinder,
  type TaskBinder,
} from './obligations.ts';
import type { RateLimit } from './rate-limit.ts';
import type { RegistryView } from './registry/view.ts';

/** A decision the message implies besides its own (audited and counted like a message of its own). */
export interface ImpliedDecision {
  readonly msg: McpMessage;
  readonly decision: Decision;
  readonly policyMs: number;
}

/** The outcome of the decide stage for one message. */
export interface Verdict {
  /** The policy's answer (or SARK's fail-closed stand-in for one). */
  readonly decision: Decision;
  readonly policyMs: number;
  /** Why SARK refuses the message: policy deny, no valid decision, rate limit, bad obligation, not the owner. */
  readonly refusal: SarkError | undefined;
  readonly retryAfterSeconds: number | undefined;
  /** What later stages must do, each addressed to its stage. Empty when refused. */
  readonly obligations: readonly Obligation[];
  readonly implied: readonly ImpliedDecision[];
}

/** Who asks, and about which request: shared by every message of one request. */
export interface Caller {
  readonly identity: Identity;
  readonly principal: string;
  readonly meta: RequestMeta;
  /** The request's trace span: the policy call is its child (and OPA gets its traceparent). */
  readonly span?: RequestSpan | undefined;
}

export interface AuthorizerOptions {
  readonly decide: Decide;
  readonly rateLimit?: RateLimit | undefined;
  readonly bindings: Bindings;
  /** Most resource URIs one subscriptions/listen may cover. */
  readonly subscriptionMaxUris: number;
  /** Policy decisions one message may run at once (subscription URIs, listed items). */
  readonly concurrency: number;
  readonly logger: Logger;
  /** The MCP Gateway Registry's data, when gatewayEnabled: its facts join every policy input. */
  readonly registry?: RegistryView | undefined;
}

const NONE: readonly ImpliedDecision[] = Object.freeze([]);
const LIST_ITEMS: Readonly<Record<string, ItemList>> = {
  'prompts/list': 'prompts',
  'resources/list': 'resources',
  'resources/templates/list': 'resourceTemplates',
};
const HIDDEN = Symbol('hidden');

export function callerOf(identity: Identity, meta: RequestMeta, span?: RequestSpan): Caller {
  return { identity, principal: principalOf(identity), meta, span };
}

export class Authorizer {
  readonly #o: AuthorizerOptions;
  #lastFailureLogMs = 0;
  #suppressedFailures = 0;

  constructor(options: AuthorizerOptions) {
    if (!Number.isInteger(options.subscriptionMaxUris) || options.subscriptionMaxUris < 1) {
      throw new TypeError('subscriptionMaxUris must be a positive integer');
    }
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new TypeError('concurrency must be a positive integer');
    }
    this.#o = options;
  }

  get bindings(): Bindings {
    return this.#o.bindings;
  }

  async authorize(msg: McpMessage, caller: Caller): Promise<Verdict> {
    const ownership = await this.#ownership(msg, caller);
    if (ownership instanceof SarkError) return refusedBefore(ownership);
    // Validated before any decision: a subscription over its limit costs no policy call.
    let impliedMessages: McpMessage[];
    try {
      impliedMessages = this.#impliedMessages(msg);
    } catch (err) {
      return refusedBefore(err instanceof SarkError ? err : new SarkError('SARK_INVALID_REQUEST', { cause: err }));
    }

    const input = buildInput(caller.meta.serverId, msg, caller.identity, caller.meta, this.#o.registry);
    const started = performance.now();
    const decision = await this.#o.decide(input, caller.span);
    const policyMs = performance.now() - started;
    if (!decision.allow) {
      if (decision.failure) this.logPolicyFailure(decision.failure, caller);
      return {
        decision,
        policyMs,
        refusal: decision.failure ?? stepUp(decision, caller.identity) ?? denied(decision),
        retryAfterSeconds: undefined,
        obligations: [],
        implied: NONE,
      };
    }
    let implied = NONE;
    try {
      // A malformed obligation is a policy error: deny (fail closed).
      let obligations = obligationsOf(decision, msg.action);
      if (impliedMessages.length > 0) {
        const decided = await this.#decideImplied(impliedMessages, caller);
        implied = decided.implied;
        if (decided.refusal) return { ...refused(decision, policyMs, decided.refusal), implied };
        if (msg.method === 'subscriptions/listen') {
          const covered = new Set(impliedMessages.map((m) => m.name!));
          obligations = [...obligations, { kind: 'drop_notifications', stage: 'forward', covered }];
        }
      }
      obligations = this.#ownObligations(msg, caller, obligations, ownership);
      const limited = await this.#o.rateLimit?.(input, decision);
      if (limited) return { ...refused(decision, policyMs, limited.error, limited.retryAfterSeconds), implied };
      return { decision, policyMs, refusal: undefined, retryAfterSeconds: undefined, obligations, implied };
    } catch (err) {
      const refusal =
        err instanceof SarkError ? err : new SarkError('SARK_POLICY_MALFORMED', { detail: String(err), cause: err });
      this.logPolicyFailure(refusal, caller);
      return { ...refused(decision, policyMs, refusal), implied };
    }
  }

  /**
   * A session or task id belongs to the principal it was bound to; anyone
   * else gets what an unknown id gets. Resolves with the task binding's
   * answer obligations for tasks/result, or undefined.
   */
  async #ownership(msg: McpMessage, caller: Caller): Promise<readonly Obligation[] | undefined | SarkError> {
    const { meta, principal } = caller;
    const bindings = this.#o.bindings;
    // Only where SARK answers the client does it see (and bind) the session ids the server assigns.
    // ext_authz never sees an answer: its port refuses session requests unless told otherwise.
    const bindsSessions = meta.transport === 'streamable-http' || meta.transport === 'legacy-sse';
    if (meta.sessionId !== undefined && msg.method !== 'initialize' && bindsSessions) {
      const kind: BindingKind = meta.transport === 'legacy-sse' ? 'legacy' : 'session';
      const owner = await bindings.lookup(kind, meta.sessionId);
      if (owner?.principal !== principal) {
        return new SarkError('SARK_SESSION_NOT_FOUND', {
          detail: owner ? 'presented by another principal' : 'unknown to SARK',
          data: { reason: 'session_not_found' },
        });
      }
    }
    if (msg.method?.startsWith('tasks/') && msg.method !== 'tasks/list' && msg.name !== undefined) {
      const owner = await bindings.lookup('task', msg.name);
      if (owner?.principal !== principal) {
        return new SarkError('SARK_POLICY_DENIED', {
          publicDetail: 'the task does not exist or belongs to another agent (task_not_owned)',
          data: { reason: 'task_not_owned' },
        });
      }
      if (msg.method === 'tasks/result') {
        // Bound on another replica, whose filters this one cannot know: refuse rather than pass unfiltered.
        if (owner.filtered && owner.answer === undefined) {
          return new SarkError('SARK_POLICY_DENIED', {
            publicDetail: 'the task result must be fetched where the task was created (task_result_unfilterable)',
            data: { reason: 'task_result_unfilterable' },
          });
        }
        return owner.answer;
      }
    }
    return undefined;
  }

  /** The resources a subscription covers, the prompt or template a completion references. */
  #impliedMessages(msg: McpMessage): McpMessage[] {
    if (msg.method === 'completion/complete' && msg.name !== undefined) {
      return msg.ref === 'ref/prompt'
        ? [impliedMessage(msg, 'prompts/get', 'gateway:prompt:get', msg.name)]
        : [impliedMessage(msg, 'resources/read', 'gateway:resource:read', msg.name)];
    }
    if (msg.method !== 'subscriptions/listen') return [];
    const params = 'params' in msg.message ? msg.message.params : undefined;
    const uris = (params?.notifications as { resourceSubscriptions?: unknown } | undefined)?.resourceSubscriptions;
    if (uris === undefined) return [];
    if (!Array.isArray(uris) || !uris.every((u) => typeof u === 'string')) {
      throw new SarkError('SARK_INVALID_REQUEST', { publicDetail: 'resource URIs must be strings' });
    }
    if (uris.length > this.#o.subscriptionMaxUris) {
      throw new SarkError('SARK_LIMIT_EXCEEDED', {
        publicDetail: `a subscription may cover at most ${this.#o.subscriptionMaxUris} resources (subscriptionMaxUris)`,
      });
    }
    return [...new Set(uris as string[])].map((uri) =>
      impliedMessage(msg, 'resources/read', 'gateway:resource:read', uri),
    );
  }

  async #decideImplied(
    messages: readonly McpMessage[],
    caller: Caller,
  ): Promise<{ implied: ImpliedDecision[]; refusal: SarkError | undefined }> {
    const implied = await mapLimit(messages, this.#o.concurrency, async (m) => {
      const started = performance.now();
      const decision = await this.#o.decide(
        buildInput(caller.meta.serverId, m, caller.identity, caller.meta, this.#o.registry),
        caller.span,
      );
      return { msg: m, decision, policyMs: performance.now() - started };
    });
    const refusedOne = implied.find((d) => !d.decision.allow);
    if (!refusedOne) return { implied, refusal: undefined };
    const d = refusedOne.decision;
    if (d.failure) this.logPolicyFailure(d.failure, caller);
    const what = refusedOne.msg.method === 'prompts/get' ? 'a prompt' : 'a resource';
    const refusal =
      d.failure ??
      new SarkError('SARK_POLICY_DENIED', {
        publicDetail: `the request references ${what} the agent may not use: ${denyText(d) ?? 'denied'}`,
      });
    return { implied, refusal };
  }

  /** SARK's own obligations beside the policy's: list item filters, session and task bindings. */
  #ownObligations(
    msg: McpMessage,
    caller: Caller,
    policy: readonly Obligation[],
    taskAnswer: readonly Obligation[] | undefined,
  ): readonly Obligation[] {
    const out = [...policy];
    const list = msg.method ? LIST_ITEMS[msg.method] : undefined;
    if (list !== undefined)
      out.push({ kind: 'filter_items', stage: 'forward', list, judge: new ItemVisibility(this, msg, caller) });
    const bindings = this.#o.bindings;
    if (msg.method === 'initialize' && caller.meta.transport === 'streamable-http') {
      out.push({
        kind: 'bind_session',
        stage: 'forward',
        binder: new SessionBinding(bindings, 'session', caller.principal),
      });
    } else if (msg.action === 'gateway:stream:listen' && caller.meta.transport === 'legacy-sse') {
      out.push({
        kind: 'bind_session',
        stage: 'forward',
        binder: new SessionBinding(bindings, 'legacy', caller.principal),
      });
    } else if (msg.action === 'gateway:session:end' && caller.meta.sessionId !== undefined) {
      const binder = new SessionBinding(bindings, 'session', caller.principal);
      out.push({ kind: 'end_session', stage: 'forward', binder, sessionId: caller.meta.sessionId });
    }
    if (msg.method === 'tasks/list') {
      const principal = caller.principal;
      out.push({ kind: 'filter_tasks', stage: 'forward', owned: (id) => bindings.ownsLocally('task', id, principal) });
    } else if (msg.method === 'tasks/result' && taskAnswer !== undefined) {
      // A task's result is filtered like the answer of the call that created it.
      for (const o of taskAnswer) out.push(o);
    } else if (msg.kind === 'request' && isTaskAugmented(msg.message)) {
      const answer = out.filter((o) => o.stage === 'forward');
      out.push({ kind: 'bind_task', stage: 'forward', binder: new TaskBinding(bindings, caller.principal, answer) });
    }
    return out;
  }

  /** Whether a listed item may be shown: decided exactly as the request that would use it. */
  async itemVisible(
    list: ItemList,
    item: Record<string, unknown>,
    listing: McpMessage,
    caller: Caller,
  ): Promise<boolean> {
    const target = itemTarget(list, item);
    if (target === HIDDEN) return false;
    const m =
      list === 'prompts'
        ? impliedMessage(listing, 'prompts/get', 'gateway:prompt:get', target)
        : impliedMessage(listing, 'resources/read', 'gateway:resource:read', target);
    const d = await this.#o.decide(
      buildInput(caller.meta.serverId, m, caller.identity, caller.meta, this.#o.registry),
      caller.span,
    );
    return d.allow;
  }

  /**
   * A policy outage denies every request: log the first failure and then at
   * most one line a second with the count suppressed, not one per request.
   */
  logPolicyFailure(failure: SarkError, caller: Caller): void {
    const now = Date.now();
    if (now - this.#lastFailureLogMs < 1000) {
      this.#suppressedFailures++;
      return;
    }
    this.#o.logger.warn(
      {
        ...requestFields(caller.meta.requestId, traceIdOf(caller.span, { traceparent: caller.meta.traceparent })),
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

class ItemVisibility implements ItemJudge {
  readonly #authorizer: Authorizer;
  readonly #listing: McpMessage;
  readonly #caller: Caller;

  constructor(authorizer: Authorizer, listing: McpMessage, caller: Caller) {
    this.#authorizer = authorizer;
    this.#listing = listing;
    this.#caller = caller;
  }

  visible(list: ItemList, item: Record<string, unknown>): Promise<boolean> {
    return this.#authorizer.itemVisible(list, item, this.#listing, this.#caller);
  }
}

class SessionBinding implements SessionBinder {
  readonly #bindings: Bindings;
  readonly #kind: BindingKind;
  readonly #principal: string;

  constructor(bindings: Bindings, kind: BindingKind, principal: string) {
    this.#bindings = bindings;
    this.#kind = kind;
    this.#principal = principal;
  }

  bind(sessionId: string): void {
    this.#bindings.bind(this.#kind, sessionId, this.#principal);
  }

  end(sessionId: string): void {
    this.#bindings.end(this.#kind, sessionId);
  }
}

class TaskBinding implements TaskBinder {
  readonly #bindings: Bindings;
  readonly #principal: string;
  readonly #answer: readonly Obligation[];

  constructor(bindings: Bindings, principal: string, answer: readonly Obligation[]) {
    this.#bindings = bindings;
    this.#principal = principal;
    this.#answer = answer;
  }

  bind(taskId: string): void {
    this.#bindings.bind('task', taskId, this.#principal, this.#answer);
  }
}

function itemTarget(list: ItemList, item: Record<string, unknown>): string | typeof HIDDEN {
  const field = list === 'prompts' ? item.name : list === 'resources' ? item.uri : item.uriTemplate;
  // An item SARK cannot name cannot be judged: hidden (fail closed).
  return typeof field === 'string' && field.length > 0 ? field : HIDDEN;
}

function impliedMessage(of: McpMessage, method: string, action: string, name: string): McpMessage {
  return { ...of, kind: 'request', method, action, name, ref: undefined, arguments: undefined };
}

/** A request asking the server to run it as a task (`params.task`, MCP tasks). */
export function isTaskAugmented(m: JsonRpcMessage): boolean {
  const task = ('params' in m ? m.params : undefined)?.task;
  return task !== null && typeof task === 'object';
}

function denyText(d: Decision): string | undefined {
  const first = d.reasons[0];
  if (!first) return undefined;
  return first.message ? `${first.message} (${first.code})` : first.code;
}

/**
 * Step-up (MCP authorization, "Scope Challenge Handling"): a deny whose only
 * reason is insufficient_scope, for a caller with an access token, becomes a
 * 403 challenge naming every scope the policy requires. A deny with any other
 * reason stays a plain deny: more scopes would not make it an allow.
 */
function stepUp(decision: Decision, identity: Identity): SarkError | undefined {
  if (identity.authMethod !== 'jwt' || decision.reasons.length === 0) return undefined;
  if (!decision.reasons.every((r) => r.code === 'insufficient_scope')) return undefined;
  const required = decision.document?.required_scopes;
  if (!Array.isArray(required) || required.length === 0 || !required.every((s) => typeof s === 'string')) {
    return undefined;
  }
  return new SarkError('SARK_INSUFFICIENT_SCOPE', { data: { required_scopes: required } });
}

function denied(d: Decision): SarkError {
  return new SarkError('SARK_POLICY_DENIED', { publicDetail: denyText(d) });
}

function refused(decision: Decision, policyMs: number, refusal: SarkError, retryAfterSeconds?: number): Verdict {
  return { decision, policyMs, refusal, retryAfterSeconds, obligations: [], implied: NONE };
}

/** A refusal made before any policy decision (ownership): audited as a deny with its own reason. */
function refusedBefore(refusal: SarkError): Verdict {
  const reason = refusal.data?.reason;
  const decision: Decision = {
    allow: false,
    reasons: [{ code: typeof reason === 'string' ? reason : refusal.kind.reason }],
    document: undefined,
    failure: undefined,
    cacheHit: false,
  };
  return { decision, policyMs: 0, refusal, retryAfterSeconds: undefined, obligations: [], implied: NONE };
}
