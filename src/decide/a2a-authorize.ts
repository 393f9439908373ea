/**
 * The decide stage for an agent-to-agent request (the decision API's
 * /authorize-a2a): the authenticated caller is the source agent; the body
 * names the target agent, its card, the A2A operation and the skill. The
 * card's signatures are checked against the configured trusted keys, the
 * a2a policy input is built (a2a-input.ts) and decided at
 * `sark/a2a/decision` through the same fail-closed createDecide as every
 * other decision. Never throws: a bad body or a failure is a refusal.
 */
import { readFileSync } from 'node:fs';
import type { FlattenedVerifyGetKey, JSONWebKeySet } from 'jose';
import { ConfigError, SarkError } from '../errors.ts';
import { a2aAuthorizeRequest, buildA2aInput } from './a2a-input.ts';
import { trustedCardKeys, verifyAgentCard } from './agent-card.ts';
import type { Caller, Verdict } from './authorize.ts';
import type { Decision } from './decision.ts';
import type { Decide } from './engine.ts';
import type { PolicyInput } from './input.ts';
import { obligationsOf } from './obligations.ts';

const NONE: readonly never[] = Object.freeze([]);

/** The policy entrypoint of agent-to-agent decisions (re-exported: sidecar.ts loads this module only with apiListen). */
export { A2A_DECISION_PATH } from './a2a-input.ts';

/** The trusted agent-card signing keys (a JWKS file), or none: then no card counts as verified. */
export function loadCardKeys(file: string | undefined): FlattenedVerifyGetKey | undefined {
  if (!file) return undefined;
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(readFileSync(file, 'utf8')) as JSONWebKeySet;
  } catch (err) {
    throw new ConfigError(`a2aCardKeysFile (${file}): cannot read a JWKS: ${(err as Error).message}`);
  }
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) {
    throw new ConfigError(`a2aCardKeysFile (${file}): expected a JWKS with at least one key`);
  }
  return trustedCardKeys(jwks);
}

export class A2aAuthorizer {
  readonly #decide: Decide;
  readonly #keys: FlattenedVerifyGetKey | undefined;

  constructor(decide: Decide, keys: FlattenedVerifyGetKey | undefined) {
    this.#decide = decide;
    this.#keys = keys;
  }

  async authorize(body: unknown, caller: Caller): Promise<Verdict> {
    const parsed = a2aAuthorizeRequest.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.map(String).join('.') || '(body)';
      return refused(
        new SarkError('SARK_INVALID_REQUEST', { publicDetail: `${field}: ${issue.message}`, data: { field } }),
      );
    }
    const request = parsed.data;
    const signature = request.target.card ? await verifyAgentCard(request.target.card, this.#keys) : undefined;
    const input = buildA2aInput(request, caller.identity, caller.meta, signature);
    const started = performance.now();
    const decision = await this.#decide(input as unknown as PolicyInput, caller.span);
    const policyMs = performance.now() - started;
    if (!decision.allow) {
      const first = decision.reasons[0];
      const refusal =
        decision.failure ??
        new SarkError('SARK_POLICY_DENIED', {
          publicDetail: first ? (first.message ? `${first.message} (${first.code})` : first.code) : undefined,
        });
      return { decision, policyMs, refusal, retryAfterSeconds: undefined, obligations: NONE, implied: NONE };
    }
    try {
      const obligations = obligationsOf(decision, 'a2a:call');
      return { decision, policyMs, refusal: undefined, retryAfterSeconds: undefined, obligations, implied: NONE };
    } catch (err) {
      const refusal = err instanceof SarkError ? err : new SarkError('SARK_POLICY_MALFORMED', { cause: err });
      return { decision, policyMs, refusal, retryAfterSeconds: undefined, obligations: NONE, implied: NONE };
    }
  }
}

function refused(refusal: SarkError): Verdict {
  const decision: Decision = {
    allow: false,
    reasons: [{ code: refusal.kind.reason }],
    document: undefined,
    failure: undefined,
    cacheHit: false,
  };
  return { decision, policyMs: 0, refusal, retryAfterSeconds: undefined, obligations: NONE, implied: NONE };
}
