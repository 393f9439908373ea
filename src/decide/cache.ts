/**
 * The decision cache: a PolicyEngine decorator with two levels, an in-process
 * LRU (l1) in front of Redis (l2, optional). Keys and lifetimes come from
 * cache-key.ts; the revision that prefixes every key from revision.ts.
 *
 * - Only valid decision documents (those `toDecision` accepts) that carry a
 *   `cache` directive are stored; errors are never stored, so a fail-closed
 *   deny is never served from the cache.
 * - Concurrent misses for the same key share one policy call (single-flight).
 * - Redis is raced against its budget and written in the background: with
 *   Redis slow or down the request goes on with l1 and the engine.
 * - Degraded mode (off by default): when the engine is unavailable (timeout,
 *   unreachable, breaker open), a cached decision up to `degradedMaxStaleMs`
 *   past its TTL is served instead of the fail-closed deny. It only ever
 *   replays a decision the policy made; it never makes a new allow.
 *
 * A base key holds either an argument-independent decision or a `vary`
 * marker saying "look under the argument key" (like HTTP Vary), so a lookup
 * costs one l1 probe for tool-scoped decisions and one MGET round trip in l2.
 */
import { SarkError } from '../errors.ts';
import type { DecideMetrics } from '../observe/metrics.ts';
import { argumentsKey, baseKey, cacheDirective, type TtlCaps } from './cache-key.ts';
import { toDecision } from './decision.ts';
import type { EngineCallContext, Lookup, PolicyEngine } from './engine.ts';
import type { PolicyInput } from './input.ts';
import { BoundedLru } from './lru.ts';
import type { RedisLink } from './redis.ts';
import type { PolicyRevision } from './revision.ts';

export interface DecisionCacheOptions extends TtlCaps {
  maxEntries: number;
  maxBytes: number;
  degradedMode: boolean;
  degradedMaxStaleMs: number;
}

/** Either a decision document, or a marker that the decision varies with the arguments. */
type Cached = { readonly doc: Readonly<Record<string, unknown>> } | { readonly vary: true };

/** Redis value: the same, with its absolute expiry (epoch ms) so l1 copies keep the remaining TTL. */
interface Stored {
  readonly d?: Record<string, unknown>;
  readonly v?: 1;
  readonly e: number;
}

/** Engine failures that mean "no answer", for which degraded mode may replay a cached decision. */
const UNAVAILABLE = new Set(['SARK_POLICY_TIMEOUT', 'SARK_POLICY_UNAVAILABLE', 'SARK_POLICY_CIRCUIT_OPEN']);

export interface DecisionCache extends PolicyEngine {
  /** `evaluate`, telling whether and which cache level answered (the audit's cache_hit, the latency's level). */
  lookup(input: PolicyInput, trace?: EngineCallContext): Promise<Lookup>;
  /** Empties the in-process level (the revision change does it on its own). */
  clear(): void;
}

export function createDecisionCache(
  engine: PolicyEngine,
  options: DecisionCacheOptions,
  revision: PolicyRevision,
  redis: RedisLink | undefined,
  metrics: DecideMetrics,
): DecisionCache {
  const l1 = new BoundedLru<Cached>(options.maxEntries, options.maxBytes);
  const keepMs = options.degradedMode ? options.degradedMaxStaleMs : 0;
  const flights = new Map<string, Promise<Lookup>>();
  const lookups = {
    l1Hit: metrics.cacheLookups.labels('l1', 'hit'),
    l1Miss: metrics.cacheLookups.labels('l1', 'miss'),
    l1Coalesced: metrics.cacheLookups.labels('l1', 'coalesced'),
    l2Hit: metrics.cacheLookups.labels('l2', 'hit'),
    l2Miss: metrics.cacheLookups.labels('l2', 'miss'),
    stale: metrics.cacheLookups.labels('l1', 'stale'),
  };
  const rkey = (k: string) => `${redis?.prefix ?? ''}d:{${k.slice(0, 43)}}${k.slice(43)}`;

  function fromL1(
    base: string,
    full: string,
    now: number,
    fresh: boolean,
  ): Readonly<Record<string, unknown>> | undefined {
    let entry = l1.get(base, now);
    if (entry && 'vary' in entry.value) entry = l1.get(full, now);
    if (!entry || 'vary' in entry.value) return undefined;
    return !fresh || entry.expiresAt > now ? entry.value.doc : undefined;
  }

  function putL1(key: string, value: Cached, expiresAt: number, bytes: number): void {
    l1.set(key, { value, expiresAt, until: expiresAt + keepMs, bytes: bytes + key.length * 2 + 96 });
    metrics.cacheEntries.set(l1.size);
    metrics.cacheBytes.set(l1.bytes);
  }

  async function fromL2(base: string, full: string, now: number): Promise<Record<string, unknown> | undefined> {
    if (!redis?.ready) return undefined;
    const got = await redis.within('cache_get', () => redis.client.mget(rkey(base), rkey(full)));
    if (!got) return undefined;
    try {
      const b = got[0] ? (JSON.parse(got[0]) as Stored) : undefined;
      const hit = b?.v === 1 ? (got[1] ? (JSON.parse(got[1]) as Stored) : undefined) : b;
      if (!hit?.d || !(hit.e > now)) return undefined;
      const text = JSON.stringify(hit.d);
      if (b?.v === 1) {
        putL1(base, { vary: true }, b.e, 16);
        putL1(full, { doc: hit.d }, hit.e, text.length);
      } else {
        putL1(base, { doc: hit.d }, hit.e, text.length);
      }
      return hit.d;
    } catch {
      return undefined;
    }
  }

  function store(base: string, full: string, result: unknown, now: number): void {
    let doc: Readonly<Record<string, unknown>>;
    try {
      doc = toDecision(result).document!;
    } catch {
      return; // malformed: createDecide turns it into a deny; never cached.
    }
    const directive = cacheDirective(doc, options);
    if (!directive) return;
    const expiresAt = now + directive.ttlMs;
    const text = JSON.stringify(doc);
    const key = directive.scope === 'arguments' ? full : base;
    if (directive.scope === 'arguments') putL1(base, { vary: true }, expiresAt, 16);
    putL1(key, { doc }, expiresAt, text.length);
    if (!redis?.ready) return;
    const px = directive.ttlMs + keepMs;
    redis.background('cache_set', () => {
      const value = `{"e":${expiresAt},"d":${text}}`;
      if (directive.scope === 'target') return redis.client.set(rkey(base), value, 'PX', px);
      return Promise.all([
        redis.client.set(rkey(base), `{"e":${expiresAt},"v":1}`, 'PX', px),
        redis.client.set(rkey(full), value, 'PX', px),
      ]);
    });
  }

  async function miss(
    input: PolicyInput,
    rev: string,
    base: string,
    full: string,
    now: number,
    trace: EngineCallContext | undefined,
  ): Promise<Lookup> {
    const remote = await fromL2(base, full, now);
    if (remote) {
      lookups.l2Hit.inc();
      return { value: remote, hit: true, level: 'l2' };
    }
    if (redis) lookups.l2Miss.inc();
    let result: unknown;
    try {
      result = await engine.evaluate(input, trace);
    } catch (err) {
      if (keepMs > 0 && err instanceof SarkError && UNAVAILABLE.has(err.code)) {
        const stale = fromL1(base, full, Date.now(), false);
        if (stale) {
          lookups.stale.inc();
          return { value: stale, hit: true, level: 'stale' };
        }
      }
      throw err;
    }
    // A revision change while the engine answered: the answer may belong to
    // either revision, so it is not stored (the next request asks again).
    if (revision.current === rev) store(base, full, result, Date.now());
    return { value: result, hit: false, level: 'none' };
  }

  // Concurrent misses share the leader's answer, and its hit flag with it; their level is `coalesced`.
  async function lookup(input: PolicyInput, trace?: EngineCallContext): Promise<Lookup> {
    const now = Date.now();
    const rev = revision.current;
    const base = baseKey(rev, input);
    const full = argumentsKey(base, input);
    const cached = fromL1(base, full, now, true);
    if (cached) {
      lookups.l1Hit.inc();
      return { value: cached, hit: true, level: 'l1' };
    }
    const inflight = flights.get(full);
    if (inflight) {
      lookups.l1Coalesced.inc();
      const shared = await inflight;
      return { value: shared.value, hit: shared.hit, level: 'coalesced' };
    }
    lookups.l1Miss.inc();
    const flight = miss(input, rev, base, full, now, trace);
    flights.set(full, flight);
    try {
      return await flight;
    } finally {
      flights.delete(full);
    }
  }

  return {
    name: engine.name,
    lookup,
    evaluate: async (input, trace) => (await lookup(input, trace)).value,
    probe: () => engine.probe(),
    ...(engine.data ? { data: engine.data.bind(engine) } : {}),
    clear() {
      l1.clear();
      metrics.cacheEntries.set(0);
      metrics.cacheBytes.set(0);
    },
    close: () => engine.close(),
  };
}
