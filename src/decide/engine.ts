/**
 * A policy engine evaluates one input and returns the raw decision value (or
 * throws a SARK_POLICY_* error). `decide` wraps any engine so that the caller
 * always gets a Decision, never an exception: every failure is a deny.
 */
import type { SarkMetrics } from '../observe/metrics.ts';
import { type Decision, failClosed, toDecision } from './decision.ts';
import type { PolicyInput } from './input.ts';

export interface PolicyEngine {
  readonly name: 'opa' | 'wasm';
  /** A revision fixed at load time (the embedded build's digest); OPA's comes from its bundles instead. */
  readonly revision?: string;
  /** The policy value at the decision path; undefined when the policy defines none. */
  evaluate(input: PolicyInput): Promise<unknown>;
  /** True while the engine answers. */
  probe(): Promise<boolean>;
  close(): Promise<void>;
}

export type Decide = (input: PolicyInput) => Promise<Decision>;

/** A decision cache's answer: the policy value, and whether the cache (not the engine) supplied it. */
export interface Lookup {
  readonly value: unknown;
  readonly hit: boolean;
}

export interface DecideSources {
  /** Evaluation through the decision cache, when it is enabled. */
  readonly lookup?: ((input: PolicyInput) => Promise<Lookup>) | undefined;
  /** The policy revision now in force, for the audit; defaults to the engine's own. */
  readonly revision?: (() => string | null) | undefined;
}

export function createDecide(engine: PolicyEngine, metrics: SarkMetrics, sources: DecideSources = {}): Decide {
  const histogram = metrics.decisionSeconds.labels(engine.name);
  const lookup = sources.lookup;
  const fixed = engine.revision ?? null;
  const revision = sources.revision ?? (() => fixed);
  return async function decide(input: PolicyInput): Promise<Decision> {
    const started = performance.now();
    // Read before evaluating: a revision change mid-flight is then attributed to the older one, which the cache also keys on.
    const rev = revision();
    let decision: Decision;
    try {
      if (lookup) {
        const found = await lookup(input);
        decision = toDecision(found.value, found.hit, rev);
      } else {
        decision = toDecision(await engine.evaluate(input), false, rev);
      }
    } catch (err) {
      decision = failClosed(err, rev);
    }
    histogram.observe((performance.now() - started) / 1000);
    return decision;
  };
}
