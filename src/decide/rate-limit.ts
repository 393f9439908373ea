/**
 * Rate limits from the decision's `rate_limit` obligation:
 *
 *   "rate_limit": {"key": "agent:bob:tool:search", "limit": 60, "window_seconds": 60}
 *
 * A token bucket of `limit` tokens refilled at limit/window_seconds per
 * second, shared by every sidecar through Redis (one atomic Lua script, Redis
 * server time, so sidecar clocks do not matter). When Redis is not
 * configured, down, or over its budget, each sidecar falls back to a local
 * bucket with the same parameters: N sidecars then admit up to N times the
 * limit, which is the price of never making Redis a dependency.
 *
 * `key` is optional; without it the bucket is per agent and per tool (or per
 * action when there is no tool). A malformed obligation is a policy error
 * (SARK_POLICY_MALFORMED): the request is denied.
 */
import { SarkError } from '../errors.ts';
import type { DecideMetrics } from '../observe/metrics.ts';
import type { Decision } from './decision.ts';
import type { PolicyInput } from './input.ts';
import { BoundedLru } from './lru.ts';
import type { RedisClient, RedisLink } from './redis.ts';

export interface RateLimitObligation {
  readonly key: string;
  readonly limit: number;
  readonly windowSeconds: number;
}

export interface RateLimited {
  readonly retryAfterSeconds: number;
  readonly error: SarkError;
}

/** Resolves with undefined when the request may go on. Throws SARK_POLICY_MALFORMED. */
export type RateLimit = (input: PolicyInput, decision: Decision) => Promise<RateLimited | undefined>;

/**
 * KEYS[1] bucket; ARGV[1] capacity, ARGV[2] refill tokens per ms.
 * Returns {allowed (0|1), wait ms until one token}.
 */
export const TOKEN_BUCKET_LUA = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return {allowed, wait}
`;

const MAX_LIMIT = 1_000_000_000;
const MAX_WINDOW_SECONDS = 86_400 * 366;

/** The obligation, or undefined when the decision carries none. Throws SARK_POLICY_MALFORMED. */
export function rateLimitObligation(decision: Decision, input: PolicyInput): RateLimitObligation | undefined {
  const raw = decision.document?.rate_limit;
  if (raw === undefined || raw === null) return undefined;
  const bad = (detail: string) => new SarkError('SARK_POLICY_MALFORMED', { detail: `rate_limit: ${detail}` });
  if (typeof raw !== 'object' || Array.isArray(raw)) throw bad('must be an object');
  const { key, limit, window_seconds } = raw as { key?: unknown; limit?: unknown; window_seconds?: unknown };
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0 || limit > MAX_LIMIT) {
    throw bad('"limit" must be an integer >= 0');
  }
  if (typeof window_seconds !== 'number' || !(window_seconds > 0) || window_seconds > MAX_WINDOW_SECONDS) {
    throw bad('"window_seconds" must be a number > 0');
  }
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 256)) {
    throw bad('"key" must be a non-empty string of at most 256 characters');
  }
  const agentId = String((input.agent as { id?: unknown }).id ?? 'anonymous');
  const target = input.tool?.name ?? input.action;
  return { key: key ?? `${agentId}|${input.server.id}|${target}`, limit, windowSeconds: window_seconds };
}

interface LocalBucket {
  tokens: number;
  ts: number;
}

/** The same bucket in process memory, for when Redis cannot answer. Returns the wait in ms (0: allowed). */
export function takeLocal(buckets: BoundedLru<LocalBucket>, o: RateLimitObligation, now: number): number {
  const rate = o.limit / (o.windowSeconds * 1000);
  const capacity = o.limit;
  const windowMs = Math.ceil(o.windowSeconds * 1000);
  const entry = buckets.get(o.key, now);
  const b = entry?.value ?? { tokens: capacity, ts: now };
  b.tokens = Math.min(capacity, b.tokens + Math.max(0, now - b.ts) * rate);
  b.ts = now;
  let wait = 0;
  if (b.tokens >= 1) b.tokens -= 1;
  else wait = rate > 0 ? Math.ceil((1 - b.tokens) / rate) : windowMs;
  // Re-set on every take so the bucket lives a window past its last use (by then it would be full again).
  buckets.set(o.key, { value: b, expiresAt: now + windowMs, until: now + windowMs, bytes: 1 });
  return wait;
}

type WithBucket = RedisClient & {
  sarkTokenBucket(key: string, capacity: number, rate: number): Promise<[number, number]>;
};

export function createRateLimit(
  redis: RedisLink | undefined,
  metrics: DecideMetrics,
  localBuckets = 100_000,
): RateLimit {
  const buckets = new BoundedLru<LocalBucket>(localBuckets, localBuckets);
  if (redis) redis.client.defineCommand('sarkTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
  const client = redis?.client as WithBucket | undefined;
  const limited = {
    redis: metrics.rateLimited.labels('redis'),
    local: metrics.rateLimited.labels('local'),
  };

  function refuse(waitMs: number, o: RateLimitObligation): RateLimited {
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    return {
      retryAfterSeconds,
      error: new SarkError('SARK_RATE_LIMITED', {
        publicDetail: `retry after ${retryAfterSeconds} s`,
        data: { retry_after_seconds: retryAfterSeconds, limit: o.limit, window_seconds: o.windowSeconds },
      }),
    };
  }

  return async function rateLimit(input, decision) {
    const o = rateLimitObligation(decision, input);
    if (!o) return undefined;
    if (o.limit === 0) {
      limited.local.inc();
      return refuse(o.windowSeconds * 1000, o);
    }
    if (redis && client) {
      const rate = o.limit / (o.windowSeconds * 1000);
      const got = await redis.within('rate_limit', () =>
        client.sarkTokenBucket(`${redis.prefix}rl:{${o.key}}`, o.limit, rate),
      );
      if (got) {
        if (Number(got[0]) === 1) return undefined;
        limited.redis.inc();
        return refuse(Number(got[1]), o);
      }
    }
    const wait = takeLocal(buckets, o, Date.now());
    if (wait === 0) return undefined;
    limited.local.inc();
    return refuse(wait, o);
  };
}
