import { describe, expect, it } from 'vitest';
import { createDecisionCache, type DecisionCacheOptions } from '../../../src/decide/cache.ts';
import { cacheDirective } from '../../../src/decide/cache-key.ts';
import { failClosed, toDecision } from '../../../src/decide/decision.ts';
import { createDecide, type PolicyEngine } from '../../../src/decide/engine.ts';
import type { PolicyInput } from '../../../src/decide/input.ts';
import { BoundedLru } from '../../../src/decide/lru.ts';
import type { PolicyRevision } from '../../../src/decide/revision.ts';
import { SarkError } from '../../../src/errors.ts';
import { canonicalJson } from '../../../src/mcp/canonical-json.ts';
import { createMetrics } from '../../../src/observe/metrics.ts';
import { toolCallInput as input } from '../../support/policy-input.ts';

const OPTIONS: DecisionCacheOptions = {
  maxEntries: 100,
  maxBytes: 1 << 20,
  maxTtlMs: 60_000,
  maxDenyTtlMs: 5_000,
  degradedMode: false,
  degradedMaxStaleMs: 0,
};

/** A scripted engine: answers from `answer`, counts calls, can be held or broken. */
function fakeEngine(answer: (i: PolicyInput) => unknown) {
  let calls = 0;
  let fail: Error | undefined;
  let gate: Promise<void> | undefined;
  const engine: PolicyEngine = {
    name: 'opa',
    async evaluate(i) {
      calls++;
      if (gate) await gate;
      if (fail) throw fail;
      return answer(i);
    },
    probe: async () => true,
    close: async () => {},
  };
  return {
    engine,
    get calls() {
      return calls;
    },
    breakWith(err: Error | undefined) {
      fail = err;
    },
    hold() {
      let release!: () => void;
      gate = new Promise((r) => {
        release = r;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

function revision(initial = 'r1') {
  let current = initial;
  const rev: PolicyRevision & { set(v: string): void } = {
    get current() {
      return current;
    },
    get label() {
      return current;
    },
    refresh: async () => {},
    close: () => {},
    set(v) {
      current = v;
    },
  };
  return rev;
}

const allowTool = { allow: true, reasons: [], cache: { ttl_seconds: 30, scope: 'target' } };

async function lookups(metrics: ReturnType<typeof createMetrics>, level: string, result: string) {
  const m = await metrics.decide.cacheLookups.get();
  return m.values.find((v) => v.labels.level === level && v.labels.result === result)?.value ?? 0;
}

describe('cacheDirective', () => {
  const caps = { maxTtlMs: 10_000, maxDenyTtlMs: 2_000 };
  it('absent, zero or invalid cache → not cacheable', () => {
    expect(cacheDirective({ allow: true }, caps)).toBeUndefined();
    expect(cacheDirective({ allow: true, cache: { ttl_seconds: 0 } }, caps)).toBeUndefined();
    expect(cacheDirective({ allow: true, cache: { ttl_seconds: '5' } }, caps)).toBeUndefined();
    expect(cacheDirective({ allow: true, cache: [] }, caps)).toBeUndefined();
  });
  it('caps allows and denies separately; only "target" leaves the arguments out', () => {
    expect(cacheDirective({ allow: true, cache: { ttl_seconds: 3600, scope: 'target' } }, caps)).toEqual({
      ttlMs: 10_000,
      scope: 'target',
    });
    expect(cacheDirective({ allow: true, cache: { ttl_seconds: 30, scope: 'none' } }, caps)).toBeUndefined();
    expect(cacheDirective({ allow: false, cache: { ttl_seconds: 3600, scope: 'target' } }, caps)).toEqual({
      ttlMs: 2_000,
      scope: 'target',
    });
    expect(cacheDirective({ allow: true, cache: { ttl_seconds: 1 } }, caps)?.scope).toBe('arguments');
    expect(cacheDirective({ allow: true, cache: { ttl_seconds: 1, scope: 'whatever' } }, caps)?.scope).toBe(
      'arguments',
    );
    expect(cacheDirective({ allow: false, cache: { ttl_seconds: 1 } }, { ...caps, maxDenyTtlMs: 0 })).toBeUndefined();
  });
  it('canonical JSON ignores key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }),
    );
  });
});

describe('BoundedLru', () => {
  it('evicts the least recently used past the entry or byte bound', () => {
    const lru = new BoundedLru<number>(2, 100);
    const e = (v: number, bytes = 10) => ({ value: v, expiresAt: 1e15, until: 1e15, bytes });
    lru.set('a', e(1));
    lru.set('b', e(2));
    lru.get('a', 0);
    lru.set('c', e(3));
    expect(lru.get('b', 0)).toBeUndefined();
    expect(lru.get('a', 0)?.value).toBe(1);
    lru.set('d', e(4, 95));
    expect(lru.size).toBe(1);
    expect(lru.bytes).toBe(95);
    lru.set('huge', e(5, 1000));
    expect(lru.get('huge', 0)).toBeUndefined();
  });
  it('drops entries past `until`', () => {
    const lru = new BoundedLru<number>(10, 100);
    lru.set('a', { value: 1, expiresAt: 10, until: 20, bytes: 1 });
    expect(lru.get('a', 15)?.value).toBe(1);
    expect(lru.get('a', 20)).toBeUndefined();
    expect(lru.size).toBe(0);
  });
});

describe('decision cache (in-process level)', () => {
  it('serves a repeated decision from l1 and keys on agent and tool', async () => {
    const f = fakeEngine(() => allowTool);
    const metrics = createMetrics();
    const cache = createDecisionCache(f.engine, OPTIONS, revision(), undefined, metrics.decide);
    expect(await cache.evaluate(input('echo'))).toEqual(allowTool);
    expect(await cache.evaluate(input('echo'))).toEqual(allowTool);
    expect(f.calls).toBe(1);
    await cache.evaluate(input('add'));
    await cache.evaluate(input('echo', undefined, 'bob'));
    expect(f.calls).toBe(3);
    expect(await lookups(metrics, 'l1', 'hit')).toBe(1);
    expect(await lookups(metrics, 'l1', 'miss')).toBe(3);
  });

  it('lookup says whether and which cache level answered, and createDecide passes it and the revision on', async () => {
    const f = fakeEngine(() => allowTool);
    const metrics = createMetrics();
    const rev = revision('bundle=r7');
    const cache = createDecisionCache(f.engine, OPTIONS, rev, undefined, metrics.decide);
    expect(await cache.lookup(input('echo'))).toEqual({ value: allowTool, hit: false, level: 'none' });
    expect(await cache.lookup(input('echo'))).toEqual({ value: allowTool, hit: true, level: 'l1' });
    const decide = createDecide(cache, metrics, { lookup: cache.lookup, revision: () => rev.label });
    const first = await decide(input('add'));
    const again = await decide(input('add'));
    expect([first.cacheHit, again.cacheHit]).toEqual([false, true]);
    expect(again.policyRevision).toBe('bundle=r7');
    f.breakWith(new SarkError('SARK_POLICY_TIMEOUT'));
    const failed = await decide(input('get_time'));
    expect([failed.allow, failed.cacheHit, failed.policyRevision]).toEqual([false, false, 'bundle=r7']);
  });

  it('argument-scoped decisions are keyed on canonical arguments', async () => {
    const f = fakeEngine((i) => ({
      allow: (i.arguments as { path: string }).path.startsWith('/tmp/'),
      cache: { ttl_seconds: 30, scope: 'arguments' },
    }));
    const cache = createDecisionCache(f.engine, OPTIONS, revision(), undefined, createMetrics().decide);
    expect(await cache.evaluate(input('rm', { path: '/tmp/x', force: true }))).toMatchObject({ allow: true });
    expect(await cache.evaluate(input('rm', { force: true, path: '/tmp/x' }))).toMatchObject({ allow: true });
    expect(f.calls).toBe(1);
    expect(await cache.evaluate(input('rm', { path: '/etc/passwd', force: true }))).toMatchObject({ allow: false });
    expect(f.calls).toBe(2);
  });

  it('never caches decisions without a cache directive, malformed answers or failures', async () => {
    let answer: unknown = { allow: true };
    const f = fakeEngine(() => answer);
    const cache = createDecisionCache(f.engine, OPTIONS, revision(), undefined, createMetrics().decide);
    const decide = createDecide(cache, createMetrics());
    await decide(input('echo'));
    await decide(input('echo'));
    expect(f.calls).toBe(2);
    answer = { allow: 'yes', cache: { ttl_seconds: 30, scope: 'target' } };
    expect((await decide(input('echo'))).failure?.code).toBe('SARK_POLICY_MALFORMED');
    expect((await decide(input('echo'))).failure?.code).toBe('SARK_POLICY_MALFORMED');
    expect(f.calls).toBe(4);
    answer = allowTool;
    f.breakWith(new SarkError('SARK_POLICY_TIMEOUT'));
    expect((await decide(input('echo'))).failure?.code).toBe('SARK_POLICY_TIMEOUT');
    f.breakWith(undefined);
    expect((await decide(input('echo'))).allow).toBe(true);
    expect(f.calls).toBe(6);
  });

  it('caches denies with their own cap', async () => {
    const f = fakeEngine(() => ({ allow: false, reasons: [{ code: 'tool_denied' }], cache: { ttl_seconds: 600 } }));
    let now = 1_000_000;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      const cache = createDecisionCache(
        f.engine,
        { ...OPTIONS, maxDenyTtlMs: 1_000 },
        revision(),
        undefined,
        createMetrics().decide,
      );
      await cache.evaluate(input('delete_file'));
      now += 999;
      await cache.evaluate(input('delete_file'));
      expect(f.calls).toBe(1);
      now += 2;
      await cache.evaluate(input('delete_file'));
      expect(f.calls).toBe(2);
    } finally {
      Date.now = realNow;
    }
  });

  it('single-flight: concurrent misses for one key make one policy call', async () => {
    const f = fakeEngine(() => allowTool);
    const metrics = createMetrics();
    const cache = createDecisionCache(f.engine, OPTIONS, revision(), undefined, metrics.decide);
    const release = f.hold();
    const pending = Array.from({ length: 50 }, () => cache.evaluate(input('echo')));
    const other = cache.evaluate(input('add'));
    release();
    const results = await Promise.all([...pending, other]);
    expect(results.every((r) => (r as { allow: boolean }).allow)).toBe(true);
    expect(f.calls).toBe(2);
    expect(await lookups(metrics, 'l1', 'coalesced')).toBe(49);
  });

  it('the joiners of an in-flight call say so (level coalesced); the leader says the engine answered', async () => {
    const f = fakeEngine(() => allowTool);
    const cache = createDecisionCache(f.engine, OPTIONS, revision(), undefined, createMetrics().decide);
    const release = f.hold();
    const pending = Array.from({ length: 3 }, () => cache.lookup(input('echo')));
    release();
    expect((await Promise.all(pending)).map((l) => l.level)).toEqual(['none', 'coalesced', 'coalesced']);
    expect((await cache.lookup(input('echo'))).level).toBe('l1');
  });

  it('single-flight shares a failure: every waiter is denied', async () => {
    const f = fakeEngine(() => allowTool);
    const cache = createDecisionCache(f.engine, OPTIONS, revision(), undefined, createMetrics().decide);
    const decide = createDecide(cache, createMetrics());
    const release = f.hold();
    f.breakWith(new SarkError('SARK_POLICY_UNAVAILABLE'));
    const pending = Array.from({ length: 10 }, () => decide(input('echo')));
    release();
    const results = await Promise.all(pending);
    expect(results.every((d) => !d.allow && d.failure?.code === 'SARK_POLICY_UNAVAILABLE')).toBe(true);
    expect(f.calls).toBe(1);
  });

  it('a revision change misses every old entry; an answer straddling the change is not stored', async () => {
    const f = fakeEngine(() => allowTool);
    const rev = revision('r1');
    const cache = createDecisionCache(f.engine, OPTIONS, rev, undefined, createMetrics().decide);
    await cache.evaluate(input('echo'));
    rev.set('r2');
    await cache.evaluate(input('echo'));
    expect(f.calls).toBe(2);
    const release = f.hold();
    const straddling = cache.evaluate(input('add'));
    rev.set('r3');
    release();
    await straddling;
    await cache.evaluate(input('add'));
    expect(f.calls).toBe(4);
  });

  it('degraded mode off: an expired entry is never served while the engine fails', async () => {
    const f = fakeEngine(() => ({ ...allowTool, cache: { ttl_seconds: 1, scope: 'target' } }));
    let now = 1_000_000;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      const cache = createDecisionCache(f.engine, OPTIONS, revision(), undefined, createMetrics().decide);
      const decide = createDecide(cache, createMetrics());
      expect((await decide(input('echo'))).allow).toBe(true);
      now += 1_001;
      f.breakWith(new SarkError('SARK_POLICY_CIRCUIT_OPEN'));
      const d = await decide(input('echo'));
      expect(d.allow).toBe(false);
      expect(d.failure?.kind.reason).toBe('policy_circuit_open');
    } finally {
      Date.now = realNow;
    }
  });

  it('degraded mode on: replays a decision the policy made, within the stale bound, never a new allow', async () => {
    const f = fakeEngine(() => ({ ...allowTool, cache: { ttl_seconds: 1, scope: 'target' } }));
    let now = 1_000_000;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      const metrics = createMetrics();
      const cache = createDecisionCache(
        f.engine,
        { ...OPTIONS, degradedMode: true, degradedMaxStaleMs: 5_000 },
        revision(),
        undefined,
        metrics.decide,
      );
      const decide = createDecide(cache, createMetrics());
      expect((await decide(input('echo'))).allow).toBe(true);
      now += 3_000;
      f.breakWith(new SarkError('SARK_POLICY_TIMEOUT'));
      expect((await decide(input('echo'))).allow).toBe(true);
      expect(await lookups(metrics, 'l1', 'stale')).toBe(1);
      // never seen before: no decision to replay → fail-closed deny
      expect((await decide(input('add'))).failure?.code).toBe('SARK_POLICY_TIMEOUT');
      // a malformed policy answer is not an outage: no replay
      f.breakWith(new SarkError('SARK_POLICY_MALFORMED'));
      expect((await decide(input('echo'))).allow).toBe(false);
      // past TTL + stale bound: gone
      f.breakWith(new SarkError('SARK_POLICY_TIMEOUT'));
      now += 3_001;
      expect((await decide(input('echo'))).allow).toBe(false);
    } finally {
      Date.now = realNow;
    }
  });

  it('failClosed decisions carry a failure and no document (so nothing to cache)', () => {
    const d = failClosed(new Error('boom'));
    expect(d.failure).toBeDefined();
    expect(d.document).toBeUndefined();
    expect(toDecision(allowTool).document).toEqual(allowTool);
  });
});
