/**
 * The Redis level of the decision cache and the shared rate-limit buckets,
 * against a real Redis: sharing across sidecars, the per-request budget when
 * Redis freezes, going on when it dies and using it again once it is back,
 * and operator invalidation over pub/sub.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecisionCache } from '../../../src/decide/cache.ts';
import type { PolicyEngine } from '../../../src/decide/engine.ts';
import { createRateLimit } from '../../../src/decide/rate-limit.ts';
import { createRedisLink, type RedisLink } from '../../../src/decide/redis.ts';
import { createPolicyRevision } from '../../../src/decide/revision.ts';
import { createLogger } from '../../../src/observe/logger.ts';
import { createMetrics, type SarkMetrics } from '../../../src/observe/metrics.ts';
import { toolCallInput as input } from '../../support/policy-input.ts';
import { type Service, startRedis, waitFor } from '../../support/services.ts';

const OPTIONS = {
  maxEntries: 1000,
  maxBytes: 1 << 20,
  maxTtlMs: 60_000,
  maxDenyTtlMs: 5_000,
  degradedMode: false,
  degradedMaxStaleMs: 0,
};

function countingEngine(scope: 'target' | 'arguments' = 'target') {
  const e = {
    calls: 0,
    engine: {
      name: 'opa',
      evaluate: async () => {
        e.calls++;
        return { allow: true, reasons: [], cache: { ttl_seconds: 30, scope } };
      },
      probe: async () => true,
      close: async () => {},
    } as PolicyEngine,
  };
  return e;
}

async function value(metrics: SarkMetrics, name: keyof SarkMetrics['decide'], labels: Record<string, string> = {}) {
  const m = await (
    metrics.decide[name] as { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }
  ).get();
  return m.values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((a, v) => a + v.value, 0);
}

interface Sidecarish {
  metrics: SarkMetrics;
  link: RedisLink;
  close(): Promise<void>;
}

function sidecarish(redisUrl: string, budgetMs = 5): Sidecarish {
  const metrics = createMetrics();
  const link = createRedisLink(
    { mode: 'standalone', url: redisUrl, nodes: undefined, sentinelName: 'x', keyPrefix: 'test:', budgetMs },
    metrics.decide,
    createLogger('silent'),
  )!;
  return { metrics, link, close: () => link.close() };
}

describe('decision cache and rate limits on a real Redis', () => {
  let redis: Service;
  const open: Sidecarish[] = [];
  const make = async (budgetMs = 5) => {
    const s = sidecarish(redis.url, budgetMs);
    open.push(s);
    await waitFor('redis link', async () => s.link.ready, 10_000);
    return s;
  };

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const s of open) await s.close();
    await redis?.stop();
  });

  it('a decision made by one sidecar is an l2 hit for another (one policy call)', async () => {
    const [a, b] = [await make(50), await make(50)];
    const rev = { current: 'r1|', label: null, refresh: async () => {}, close: () => {} };
    const ea = countingEngine();
    const eb = countingEngine();
    const ca = createDecisionCache(ea.engine, OPTIONS, rev, a.link, a.metrics.decide);
    const cb = createDecisionCache(eb.engine, OPTIONS, rev, b.link, b.metrics.decide);
    await ca.evaluate(input('echo'));
    await waitFor('written to redis', async () => (await a.link.client.keys('test:d:*')).length > 0, 5_000);
    expect(await cb.evaluate(input('echo'))).toMatchObject({ allow: true });
    expect(eb.calls).toBe(0);
    expect(await value(b.metrics, 'cacheLookups', { level: 'l2', result: 'hit' })).toBe(1);
    // the l2 hit is now in b's l1
    await cb.evaluate(input('echo'));
    expect(await value(b.metrics, 'cacheLookups', { level: 'l1', result: 'hit' })).toBe(1);
  });

  it('argument-scoped decisions are shared per argument set (vary marker)', async () => {
    const [a, b] = [await make(50), await make(50)];
    const rev = { current: 'r-args|', label: null, refresh: async () => {}, close: () => {} };
    const ea = countingEngine('arguments');
    const eb = countingEngine('arguments');
    const ca = createDecisionCache(ea.engine, OPTIONS, rev, a.link, a.metrics.decide);
    const cb = createDecisionCache(eb.engine, OPTIONS, rev, b.link, b.metrics.decide);
    const keysBefore = (await a.link.client.keys('test:d:*')).length;
    await ca.evaluate(input('rm', { path: '/tmp/a' }));
    // the vary marker under the base key and the decision under the argument key
    await waitFor('written', async () => (await a.link.client.keys('test:d:*')).length === keysBefore + 2, 5_000);
    await cb.evaluate(input('rm', { path: '/tmp/a' }));
    expect(eb.calls).toBe(0);
    await cb.evaluate(input('rm', { path: '/tmp/b' }));
    expect(eb.calls).toBe(1);
  });

  it('Redis frozen: no lookup waits past the budget; the engine answers', async () => {
    const s = await make(5);
    const e = countingEngine();
    const cache = createDecisionCache(
      e.engine,
      OPTIONS,
      { current: 'frozen|', label: null, refresh: async () => {}, close: () => {} },
      s.link,
      s.metrics.decide,
    );
    redis.freeze();
    try {
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        await cache.evaluate(input(`tool${i}`));
        times.push(performance.now() - started);
      }
      times.sort((x, y) => x - y);
      // budget 5 ms; the median shows the budget holds (a busy 2-core box adds jitter to the tail)
      expect(times[10]!).toBeLessThan(25);
      expect(e.calls).toBe(20);
      expect(await value(s.metrics, 'redisErrors', { op: 'cache_get_budget' })).toBeGreaterThanOrEqual(1);
    } finally {
      redis.thaw();
    }
  });

  it('Redis killed: cache and engine go on; restarted: the link reconnects and l2 is used again', async () => {
    const s = await make(50);
    const e = countingEngine();
    const rev = { current: 'restart|', label: null, refresh: async () => {}, close: () => {} };
    const cache = createDecisionCache(e.engine, OPTIONS, rev, s.link, s.metrics.decide);
    await redis.kill();
    await waitFor('link down', async () => !s.link.ready, 10_000);
    const started = performance.now();
    expect(await cache.evaluate(input('echo'))).toMatchObject({ allow: true });
    expect(await cache.evaluate(input('echo'))).toMatchObject({ allow: true });
    expect(performance.now() - started).toBeLessThan(100);
    expect(e.calls).toBe(1);
    expect(await value(s.metrics, 'redisUp')).toBe(0);
    await redis.restart();
    await waitFor('link back', async () => s.link.ready, 15_000);
    expect(await value(s.metrics, 'redisUp')).toBe(1);
    await cache.evaluate(input('add'));
    await waitFor('written after reconnect', async () => (await s.link.client.keys('test:d:*')).length > 0, 5_000);
  });

  it('operator invalidation: EVAL bump+publish changes every sidecar revision and empties l1', async () => {
    const [a, b] = [await make(50), await make(50)];
    const revisions = [a, b].map((s) =>
      createPolicyRevision(
        { opaUrl: undefined, pollMs: 0, timeoutMs: 1000 },
        s.link,
        (source) => s.metrics.decide.cacheInvalidations.labels(source).inc(),
        createLogger('silent'),
      ),
    );
    const before = revisions.map((r) => r.current);
    const admin = new Redis(redis.url);
    try {
      // subscriptions are asynchronous: publish until both have seen it
      await waitFor(
        'both sidecars see the new epoch',
        async () => {
          await admin.eval(
            "local e = redis.call('INCR', KEYS[1]); redis.call('PUBLISH', ARGV[1], e); return e",
            1,
            'test:decisions:epoch',
            'test:decisions:invalidate',
          );
          return revisions.every((r, i) => r.current !== before[i]);
        },
        10_000,
      );
    } finally {
      admin.disconnect();
    }
    expect(await value(a.metrics, 'cacheInvalidations', { source: 'channel' })).toBeGreaterThanOrEqual(1);
    // a sidecar started later reads the epoch on connect
    const c = await make(50);
    const late = createPolicyRevision(
      { opaUrl: undefined, pollMs: 0, timeoutMs: 1000 },
      c.link,
      () => {},
      createLogger('silent'),
    );
    await waitFor('late sidecar has the epoch', async () => late.current !== '|', 5_000);
    expect(late.current).toBe(revisions[0]!.current);
  });

  it('token bucket in Redis is shared by sidecars: together they admit the limit', async () => {
    const [a, b] = [await make(50), await make(50)];
    const la = createRateLimit(a.link, a.metrics.decide);
    const lb = createRateLimit(b.link, b.metrics.decide);
    const d = {
      allow: true,
      reasons: [],
      document: { allow: true, rate_limit: { key: `shared-${Date.now()}`, limit: 5, window_seconds: 60 } },
      failure: undefined,
    };
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await (i % 2 ? lb : la)(input('search'), d));
    expect(results.filter((r) => r === undefined)).toHaveLength(5);
    const refused = results.find((r) => r !== undefined)!;
    expect(refused.error.code).toBe('SARK_RATE_LIMITED');
    expect(refused.retryAfterSeconds).toBe(12);
    expect(
      (await value(a.metrics, 'rateLimited', { store: 'redis' })) +
        (await value(b.metrics, 'rateLimited', { store: 'redis' })),
    ).toBe(1);
  });
});
