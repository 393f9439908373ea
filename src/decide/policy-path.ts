/**
 * The decide stage as the sidecar composes it:
 *
 *   engine (OPA client or WASM) → breaker (OPA only) → decision cache → createDecide
 *
 * plus the rate limiter the pipeline applies after an allow, and the Redis
 * link both share. Built once at start-up; bad options throw here.
 */
import type { SarkConfig } from '../config/schema.ts';
import type { Logger } from '../observe/logger.ts';
import type { SarkMetrics } from '../observe/metrics.ts';
import { createDecisionCache, type DecisionCache } from './cache.ts';
import { createDecide, type Decide, type PolicyEngine } from './engine.ts';
import { createRateLimit, type RateLimit } from './rate-limit.ts';
import type { RedisLink } from './redis.ts';
import { createPolicyRevision } from './revision.ts';

export interface PolicyPath {
  readonly decide: Decide;
  readonly rateLimit: RateLimit;
  /** The Redis link the cache and rate limits share (undefined without Redis), for the session bindings too. */
  readonly redis: RedisLink | undefined;
  /** Closes the breaker, cache, Redis link and the engine itself. */
  close(): Promise<void>;
}

export async function createPolicyPath(
  config: SarkConfig,
  engine: PolicyEngine,
  metrics: SarkMetrics,
  logger: Logger,
): Promise<PolicyPath> {
  const m = metrics.decide;
  // The Redis client and the breaker are loaded only when they are used.
  const redisWanted = config.redisMode !== 'standalone' || config.redisUrl || config.redisNodes;
  const redis: RedisLink | undefined = redisWanted
    ? (await import('./redis.ts')).createRedisLink(
        {
          mode: config.redisMode,
          url: config.redisUrl,
          nodes: config.redisNodes,
          sentinelName: config.redisSentinelName,
          keyPrefix: config.redisKeyPrefix,
          budgetMs: config.redisBudgetMs,
        },
        m,
        logger,
      )
    : undefined;
  const guarded =
    engine.name === 'opa'
      ? (await import('./breaker.ts')).createPolicyBreaker(
          engine,
          {
            errorPercent: config.breakerErrorPercent,
            volume: config.breakerVolume,
            windowMs: config.breakerWindowMs,
            resetMs: config.breakerResetMs,
          },
          m,
          logger,
        )
      : engine;

  // The revision keys the cache and labels every audit event, so it is followed even with the cache off.
  let clear = () => {};
  const revision = createPolicyRevision(
    { opaUrl: config.opaUrl, pollMs: config.policyRevisionPollMs, timeoutMs: Math.max(config.opaTimeoutMs, 1_000) },
    redis,
    (source) => {
      m.cacheInvalidations.labels(source).inc();
      clear();
    },
    logger,
  );
  await revision.refresh();
  const fixed = engine.revision ?? null;
  const label = () => revision.label ?? fixed;

  let cached: PolicyEngine = guarded;
  let lookup: DecisionCache['lookup'] | undefined;
  if (config.decisionCacheEntries > 0) {
    const cache = createDecisionCache(
      guarded,
      {
        maxEntries: config.decisionCacheEntries,
        maxBytes: config.decisionCacheMaxBytes,
        maxTtlMs: config.decisionCacheMaxTtlMs,
        maxDenyTtlMs: config.decisionCacheMaxDenyTtlMs,
        degradedMode: config.policyDegradedMode,
        degradedMaxStaleMs: config.policyDegradedMaxStaleMs,
      },
      revision,
      redis,
      m,
    );
    clear = () => cache.clear();
    cached = cache;
    lookup = cache.lookup;
  }

  return {
    decide: createDecide(cached, metrics, { lookup, revision: label }),
    rateLimit: createRateLimit(redis, m),
    redis,
    async close() {
      revision.close();
      await cached.close();
      await redis?.close();
    },
  };
}
