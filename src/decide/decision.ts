/**
 * The decision contract (opa/schemas/decision.schema.json) and the one place
 * where a policy answer becomes allow or deny. Fail closed: anything but a
 * well-formed object whose `allow` is the boolean true is a deny, and every
 * error on the way is turned into a deny with its own reason code.
 */
import { SarkError } from '../errors.ts';

export interface Reason {
  readonly code: string;
  readonly message?: string;
}

export interface Decision {
  readonly allow: boolean;
  readonly reasons: readonly Reason[];
  /** The policy's whole decision document, for obligations consumed by later stages. */
  readonly document: Readonly<Record<string, unknown>> | undefined;
  /** Set when the decision is a fail-closed deny (no valid policy answer). */
  readonly failure: SarkError | undefined;
  /** Served by the decision cache (either level) rather than evaluated for this request. */
  readonly cacheHit?: boolean;
  /** The policy revision that decided (bundle revisions, or the embedded build's digest), when known. */
  readonly policyRevision?: string | null;
}

const REASON_CODE = /^[a-z][a-z0-9_.:-]{0,63}$/;

/** Validates a policy result (the value of OPA's `result`). Throws SARK_POLICY_MALFORMED. */
export function toDecision(result: unknown, cacheHit = false, policyRevision: string | null = null): Decision {
  if (result === undefined) {
    throw new SarkError('SARK_POLICY_MALFORMED', {
      detail: 'the decision is undefined (no rule matched, or wrong path)',
    });
  }
  if (result === null || typeof result !== 'object' || Array.isArray(result)) {
    throw new SarkError('SARK_POLICY_MALFORMED', { detail: `the decision must be an object, got ${typeof result}` });
  }
  const doc = result as Record<string, unknown>;
  if (typeof doc.allow !== 'boolean') {
    throw new SarkError('SARK_POLICY_MALFORMED', { detail: 'the decision has no boolean "allow"' });
  }
  const reasons: Reason[] = [];
  if (doc.reasons !== undefined) {
    if (!Array.isArray(doc.reasons))
      throw new SarkError('SARK_POLICY_MALFORMED', { detail: '"reasons" must be an array' });
    for (const r of doc.reasons) {
      if (
        r === null ||
        typeof r !== 'object' ||
        typeof (r as Reason).code !== 'string' ||
        !REASON_CODE.test((r as Reason).code)
      ) {
        throw new SarkError('SARK_POLICY_MALFORMED', { detail: 'each reason needs a snake_case "code"' });
      }
      const msg = (r as Reason).message;
      reasons.push(typeof msg === 'string' ? { code: (r as Reason).code, message: msg } : { code: (r as Reason).code });
    }
  }
  return { allow: doc.allow, reasons, document: doc, failure: undefined, cacheHit, policyRevision };
}

export function failClosed(err: unknown, policyRevision: string | null = null): Decision {
  const failure =
    err instanceof SarkError && err.code.startsWith('SARK_POLICY_')
      ? err
      : new SarkError('SARK_POLICY_UNAVAILABLE', { detail: (err as Error)?.message ?? String(err), cause: err });
  return {
    allow: false,
    reasons: [{ code: failure.kind.reason }],
    document: undefined,
    failure,
    cacheHit: false,
    policyRevision,
  };
}

/** The reason label for metrics and audit: the first policy reason, or the failure's. */
export function primaryReason(d: Decision): string {
  return d.failure ? d.failure.kind.reason : (d.reasons[0]?.code ?? (d.allow ? 'allowed' : 'denied'));
}
