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
  /** The policy value at the decision path; undefined when the policy defines none. */
  evaluate(input: PolicyInput): Promise<unknown>;
  /** True while the engine answers. */
  probe(): Promise<boolean>;
  close(): Promise<void>;
}

export type Decide = (input: PolicyInput) => Promise<Decision>;

export function createDecide(engine: PolicyEngine, metrics: SarkMetrics): Decide {
  const histogram = metrics.decisionSeconds.labels(engine.name);
  return async function decide(input: PolicyInput): Promise<Decision> {
    const started = performance.now();
    let decision: Decision;
    try {
      decision = toDecision(await engine.evaluate(input));
    } catch (err) {
      decision = failClosed(err);
    }
    histogram.observe((performance.now() - started) / 1000);
    return decision;
  };
}
