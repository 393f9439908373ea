/**
 * Metrics of the decide stage's machinery: the decision cache, the circuit
 * breaker, rate limits and the Redis link behind them.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { BoundCounter } from './bound-metrics.ts';

/**
 * Decision cache, circuit breaker, rate limits and the Redis link behind them.
 * `level` is l1 (in-process) or l2 (Redis); `result` is hit, miss, coalesced
 * (joined an in-flight policy call) or stale (served by degraded mode).
 */
export interface DecideMetrics {
  readonly cacheLookups: Counter<'level' | 'result'>;
  readonly cacheInvalidations: Counter<'source'>;
  readonly cacheEntries: Gauge;
  readonly cacheBytes: Gauge;
  readonly breakerState: Gauge;
  readonly breakerTransitions: Counter<'state'>;
  readonly breakerRejections: Counter;
  readonly rateLimited: Counter<'store'>;
  readonly redisErrors: Counter<'op'>;
  readonly redisUp: Gauge;
}

export function createDecideMetrics(registry: Registry): DecideMetrics {
  const registers = [registry];
  return {
    cacheLookups: new BoundCounter({
      name: 'sark_decision_cache_lookups_total',
      help: 'Decision cache lookups, by level (l1, l2) and result (hit, miss, coalesced, stale).',
      labelNames: ['level', 'result'],
      registers,
    }),
    cacheInvalidations: new Counter({
      name: 'sark_decision_cache_invalidations_total',
      help: 'In-process cache flushes, by source (revision: OPA bundle revision changed; channel: operator publish).',
      labelNames: ['source'],
      registers,
    }),
    cacheEntries: new Gauge({
      name: 'sark_decision_cache_entries',
      help: 'Entries in the in-process cache.',
      registers,
    }),
    cacheBytes: new Gauge({
      name: 'sark_decision_cache_bytes',
      help: 'Approximate bytes held by the in-process cache.',
      registers,
    }),
    breakerState: new Gauge({
      name: 'sark_policy_breaker_state',
      help: 'Policy circuit breaker: 0 closed, 1 half-open, 2 open.',
      registers,
    }),
    breakerTransitions: new Counter({
      name: 'sark_policy_breaker_transitions_total',
      help: 'Policy circuit breaker state changes, by the state entered.',
      labelNames: ['state'],
      registers,
    }),
    breakerRejections: new Counter({
      name: 'sark_policy_breaker_rejections_total',
      help: 'Policy calls denied at once because the breaker was open.',
      registers,
    }),
    rateLimited: new Counter({
      name: 'sark_rate_limited_total',
      help: 'Requests refused by a rate_limit obligation, by bucket store (redis, local).',
      labelNames: ['store'],
      registers,
    }),
    redisErrors: new Counter({
      name: 'sark_redis_errors_total',
      help: 'Redis failures and budget overruns (the request went on without Redis), by operation.',
      labelNames: ['op'],
      registers,
    }),
    redisUp: new Gauge({ name: 'sark_redis_up', help: '1 while the Redis connection is ready.', registers }),
  };
}
