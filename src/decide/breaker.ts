/**
 * A circuit breaker (opossum) around a remote policy engine. Timeouts and
 * errors are counted over a rolling window; past the threshold the breaker
 * opens and every call is refused at once with SARK_POLICY_CIRCUIT_OPEN — a
 * deny, never an allow: there is no fail-open setting. After `resetMs` one
 * call goes through as a half-open probe; success closes the breaker, failure
 * opens it again. One log line and one metric sample per state change.
 *
 * The engine keeps its own deadline (opaTimeoutMs); the breaker adds none, so
 * a frozen OPA shows up here as SARK_POLICY_TIMEOUT failures.
 */
import CircuitBreaker from 'opossum';
import { SarkError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { DecideMetrics } from '../observe/metrics.ts';
import type { EngineCallContext, PolicyEngine } from './engine.ts';
import type { PolicyInput } from './input.ts';

export interface PolicyBreakerOptions {
  /** Failure share in the window, in percent, above which the breaker opens. */
  errorPercent: number;
  /** Calls needed in the window before it may open. */
  volume: number;
  windowMs: number;
  /** Open → half-open after this long. */
  resetMs: number;
}

export type BreakerState = 'closed' | 'half_open' | 'open';

export interface GuardedEngine extends PolicyEngine {
  readonly state: BreakerState;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export function createPolicyBreaker(
  engine: PolicyEngine,
  options: PolicyBreakerOptions,
  metrics: DecideMetrics,
  logger: Logger,
): GuardedEngine {
  for (const [k, v] of Object.entries(options)) {
    if (!Number.isInteger(v) || v <= 0) throw new TypeError(`breaker option ${k} must be a positive integer, got ${v}`);
  }
  if (options.errorPercent > 100) throw new TypeError('breaker option errorPercent must be <= 100');

  const breaker = new CircuitBreaker((input: PolicyInput, trace?: EngineCallContext) => engine.evaluate(input, trace), {
    timeout: false,
    // opossum opens when the rate is strictly above the threshold; 100 % would never open.
    errorThresholdPercentage: Math.min(options.errorPercent, 99.999),
    volumeThreshold: options.volume,
    rollingCountTimeout: options.windowMs,
    rollingCountBuckets: Math.max(1, Math.min(10, Math.floor(options.windowMs / 100))),
    resetTimeout: options.resetMs,
  });

  let state: BreakerState = 'closed';
  metrics.breakerState.set(0);
  const enter = (next: BreakerState, err?: unknown) => {
    if (next === state) return;
    state = next;
    metrics.breakerState.set(STATE_VALUE[next]);
    metrics.breakerTransitions.labels(next).inc();
    const line = { engine: engine.name, state: next, err: err instanceof Error ? err.message : undefined };
    if (next === 'open') logger.warn(line, 'policy circuit breaker open: denying without asking the engine');
    else logger.info(line, `policy circuit breaker ${next === 'closed' ? 'closed' : 'half-open'}`);
  };
  let lastError: unknown;
  breaker.on('failure', (err: unknown) => {
    lastError = err;
  });
  breaker.on('open', () => enter('open', lastError));
  breaker.on('halfOpen', () => enter('half_open'));
  breaker.on('close', () => enter('closed'));
  breaker.on('reject', () => metrics.breakerRejections.inc());

  async function evaluate(input: PolicyInput, trace?: EngineCallContext): Promise<unknown> {
    try {
      return await breaker.fire(input, trace);
    } catch (err) {
      if ((err as { code?: string }).code === 'EOPENBREAKER') {
        throw new SarkError('SARK_POLICY_CIRCUIT_OPEN', { detail: `${engine.name} breaker is ${state}` });
      }
      throw err;
    }
  }

  return {
    name: engine.name,
    evaluate,
    probe: () => engine.probe(),
    ...(engine.data ? { data: engine.data.bind(engine) } : {}),
    get state() {
      return state;
    },
    async close() {
      breaker.shutdown();
      await engine.close();
    },
  };
}
