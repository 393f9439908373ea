import { describe, expect, it } from 'vitest';
import type { Decision } from '../../../src/decide/decision.ts';
import type { PolicyInput } from '../../../src/decide/input.ts';
import { BoundedLru } from '../../../src/decide/lru.ts';
import { createRateLimit, rateLimitObligation, takeLocal } from '../../../src/decide/rate-limit.ts';
import { createMetrics } from '../../../src/observe/metrics.ts';

const INPUT = {
  action: 'gateway:tool:invoke',
  agent: { id: 'alice' },
  server: { id: 'demo' },
  tool: { name: 'search' },
} as unknown as PolicyInput;

function decision(rateLimit: unknown): Decision {
  return { allow: true, reasons: [], document: { allow: true, rate_limit: rateLimit }, failure: undefined };
}

describe('rate_limit obligation', () => {
  it('absent → no limit; key defaults to agent, server and tool', () => {
    expect(rateLimitObligation({ ...decision(undefined), document: { allow: true } }, INPUT)).toBeUndefined();
    expect(rateLimitObligation(decision({ limit: 5, window_seconds: 1 }), INPUT)).toEqual({
      key: 'alice|demo|search',
      limit: 5,
      windowSeconds: 1,
    });
    expect(rateLimitObligation(decision({ key: 'team:x', limit: 5, window_seconds: 60 }), INPUT)?.key).toBe('team:x');
  });

  it('a malformed obligation is a policy error (the request is denied)', () => {
    for (const bad of [
      'x',
      [],
      { limit: -1, window_seconds: 1 },
      { limit: 1.5, window_seconds: 1 },
      { limit: 1, window_seconds: 0 },
      { limit: 1 },
      { key: '', limit: 1, window_seconds: 1 },
      { key: 7, limit: 1, window_seconds: 1 },
    ]) {
      expect(() => rateLimitObligation(decision(bad), INPUT), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'SARK_POLICY_MALFORMED' }),
      );
    }
  });
});

describe('local token bucket', () => {
  it('admits `limit` at once, then refills at limit/window', () => {
    const buckets = new BoundedLru<{ tokens: number; ts: number }>(100, 100);
    const o = { key: 'k', limit: 3, windowSeconds: 3 };
    let now = 1_000_000;
    expect([takeLocal(buckets, o, now), takeLocal(buckets, o, now), takeLocal(buckets, o, now)]).toEqual([0, 0, 0]);
    const wait = takeLocal(buckets, o, now);
    expect(wait).toBe(1_000);
    now += 999;
    expect(takeLocal(buckets, o, now)).toBeGreaterThan(0);
    now += 2;
    expect(takeLocal(buckets, o, now)).toBe(0);
    // a long idle period refills to capacity, not beyond
    now += 60_000;
    expect([0, 1, 2, 3].map(() => takeLocal(buckets, o, now))).toEqual([0, 0, 0, 1_000]);
  });

  it('without Redis: over the limit → SARK_RATE_LIMITED with Retry-After in whole seconds', async () => {
    const metrics = createMetrics();
    const rateLimit = createRateLimit(undefined, metrics.decide);
    const d = decision({ limit: 2, window_seconds: 10 });
    expect(await rateLimit(INPUT, d)).toBeUndefined();
    expect(await rateLimit(INPUT, d)).toBeUndefined();
    const limited = await rateLimit(INPUT, d);
    expect(limited?.error.code).toBe('SARK_RATE_LIMITED');
    expect(limited?.error.kind.httpStatus).toBe(429);
    expect(limited?.retryAfterSeconds).toBe(5);
    // another tool has its own bucket
    expect(await rateLimit({ ...INPUT, tool: { name: 'other' } }, d)).toBeUndefined();
    // limit 0 refuses everything
    expect((await rateLimit(INPUT, decision({ limit: 0, window_seconds: 2 })))?.retryAfterSeconds).toBe(2);
    const m = await metrics.decide.rateLimited.get();
    expect(m.values.find((v) => v.labels.store === 'local')?.value).toBe(2);
  });
});
