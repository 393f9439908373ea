/**
 * A policy engine evaluates one input and returns the raw decision value (or
 * throws a SARK_POLICY_* error). `decide` wraps any engine so that the caller
 * always gets a Decision, never an exception: every failure is a deny.
 *
 * `decide` also records what every decision did, wherever it was asked from:
 * `sark_decisions_total` (bounded reason), `sark_decision_duration_seconds`
 * by engine and the cache level that answered, the engine's health (answered
 * or failed, for `sark_policy_engine_up`), and a `sark.policy` span when the
 * request is traced, whose traceparent goes to OPA.
 */
import type { SarkMetrics } from '../observe/metrics.ts';
import { propagationHeaders, type RequestSpan } from '../observe/tracing.ts';
import { type Decision, failClosed, primaryReason, toDecision } from './decision.ts';
import type { EngineHealth } from './engine-health.ts';
import type { PolicyInput } from './input.ts';

/** Trace context for the engine's own call (OPA continues the trace); absent when not traced. */
export type EngineCallContext = Readonly<Record<string, string>>;

export interface PolicyEngine {
  readonly name: 'opa' | 'wasm';
  /** A revision fixed at load time (the embedded build's digest); OPA's comes from its bundles instead. */
  readonly revision?: string;
  /** The policy value at the decision path; undefined when the policy defines none. */
  evaluate(input: PolicyInput, trace?: EngineCallContext): Promise<unknown>;
  /** True while the engine answers. */
  probe(): Promise<boolean>;
  /** A document of the policy's data (e.g. `sark/tools/demo`), or undefined when absent or unreadable. */
  data?(path: string): Promise<unknown>;
  close(): Promise<void>;
}

export type Decide = (input: PolicyInput, span?: RequestSpan) => Promise<Decision>;

/**
 * Which cache level answered: l1 (in-process), l2 (Redis), coalesced (joined
 * an in-flight call for the same key), stale (degraded mode replayed an
 * expired entry because the engine failed), none (the engine answered).
 */
export type CacheLevel = 'l1' | 'l2' | 'coalesced' | 'stale' | 'none';

/** A decision cache's answer: the policy value, and whether the cache (not the engine) supplied it. */
export interface Lookup {
  readonly value: unknown;
  readonly hit: boolean;
  readonly level: CacheLevel;
}

export interface DecideSources {
  /** Evaluation through the decision cache, when it is enabled. */
  readonly lookup?: ((input: PolicyInput, trace?: EngineCallContext) => Promise<Lookup>) | undefined;
  /** The policy revision now in force, for the audit; defaults to the engine's own. */
  readonly revision?: (() => string | null) | undefined;
  /** Told whether the engine answered each decision it was asked for. */
  readonly health?: Pick<EngineHealth, 'answered' | 'failed'> | undefined;
}

const LEVELS: readonly CacheLevel[] = ['l1', 'l2', 'coalesced', 'stale', 'none'];

export function createDecide(engine: PolicyEngine, metrics: SarkMetrics, sources: DecideSources = {}): Decide {
  const seconds = {} as Record<CacheLevel, { observe(v: number): void }>;
  for (const level of LEVELS) seconds[level] = metrics.decisionSeconds.labels(engine.name, level);
  const counted = new Map<string, { inc(): void }>();
  const count = (d: Decision) => {
    const key = `${d.allow ? 'allow' : 'deny'} ${metrics.reasons.label(primaryReason(d))}`;
    let c = counted.get(key);
    if (c === undefined) {
      const [decision, reason] = key.split(' ') as [string, string];
      c = metrics.decisions.labels(decision, reason);
      counted.set(key, c);
    }
    c.inc();
  };
  const lookup = sources.lookup;
  const health = sources.health;
  const fixed = engine.revision ?? null;
  const revision = sources.revision ?? (() => fixed);

  return async function decide(input: PolicyInput, span?: RequestSpan): Promise<Decision> {
    const started = performance.now();
    const child = span?.child('sark.policy', { 'sark.policy.engine': engine.name });
    const trace = child ? propagationHeaders(child) : undefined;
    // Read before evaluating: a revision change mid-flight is then attributed to the older one, which the cache also keys on.
    const rev = revision();
    let decision: Decision;
    let level: CacheLevel = 'none';
    let value: unknown;
    let hit = false;
    try {
      if (lookup) {
        const found = await lookup(input, trace);
        value = found.value;
        hit = found.hit;
        level = found.level;
      } else {
        value = await engine.evaluate(input, trace);
      }
    } catch (err) {
      // No answer: unreachable, timed out, breaker open. (Undecodable JSON from OPA is an answer, a wrong one.)
      if ((err as { code?: string }).code !== 'SARK_POLICY_MALFORMED') health?.failed();
      decision = failClosed(err, rev);
      return done(decision, level, started, child);
    }
    if (level === 'none') health?.answered();
    else if (level === 'stale') health?.failed();
    try {
      decision = toDecision(value, hit, rev);
    } catch (err) {
      decision = failClosed(err, rev);
    }
    return done(decision, level, started, child);
  };

  function done(decision: Decision, level: CacheLevel, started: number, child: RequestSpan | undefined): Decision {
    seconds[level].observe((performance.now() - started) / 1000);
    count(decision);
    child?.end(
      {
        'sark.policy.cache': level,
        'sark.decision': decision.allow ? 'allow' : 'deny',
        'sark.decision.reason': primaryReason(decision),
      },
      decision.failure?.code,
    );
    return decision;
  }
}
