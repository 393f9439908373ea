/**
 * Micro-benchmark: the decision cache's in-process level, hand-written
 * BoundedLru (src/decide/lru.ts, before) against lru-cache with the same
 * bounds (entries and bytes) and per-entry lifetimes. Hit-heavy mix as in
 * the sidecar (a lookup, and a store on a miss), 10k distinct keys, 50k
 * capacity; and lru-cache without `max` (storage grown, not preallocated),
 * the count bounded by popping, as src/decide/lru.ts uses it now.
 *
 *   npx node loadtest/micro/lru.ts
 */
import { LRUCache } from 'lru-cache';

interface Entry {
  readonly value: unknown;
  readonly expiresAt: number;
  readonly until: number;
  readonly bytes: number;
}

class BoundedLru {
  readonly #map = new Map<string, Entry>();
  #bytes = 0;
  readonly maxEntries: number;
  readonly maxBytes: number;
  constructor(maxEntries: number, maxBytes: number) {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
  }
  get(key: string, now: number): Entry | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    this.#map.delete(key);
    if (e.until <= now) {
      this.#bytes -= e.bytes;
      return undefined;
    }
    this.#map.set(key, e);
    return e;
  }
  set(key: string, e: Entry): void {
    const old = this.#map.get(key);
    if (old) {
      this.#map.delete(key);
      this.#bytes -= old.bytes;
    }
    this.#map.set(key, e);
    this.#bytes += e.bytes;
    while (this.#map.size > this.maxEntries || this.#bytes > this.maxBytes) {
      const first = this.#map.entries().next().value!;
      this.#map.delete(first[0]);
      this.#bytes -= first[1].bytes;
    }
  }
}

const KEYS = Array.from({ length: 10_000 }, (_, i) => `k${i}-${'x'.repeat(40)}`);
const N = 2_000_000;

function run(name: string, get: (k: string, now: number) => unknown, set: (k: string, e: Entry) => void): number {
  let hits = 0;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const now = Date.now();
    const k = KEYS[(i * 7919) % KEYS.length]!;
    // As the decision cache does: a lookup, and a store on a miss.
    if (get(k, now) !== undefined) hits++;
    else set(k, { value: i, expiresAt: now + 60_000, until: now + 60_000, bytes: 200 });
  }
  const ns = ((performance.now() - t0) * 1e6) / N;
  console.log(`${name.padEnd(12)} ${ns.toFixed(1)} ns/op  (hits ${hits})`);
  return ns;
}

const results: Record<string, number[]> = { BoundedLru: [], 'lru-cache': [], 'lru-cache, grown': [] };
for (let round = 0; round < 5; round++) {
  const a = new BoundedLru(50_000, 32 * 1024 * 1024);
  results.BoundedLru!.push(
    run(
      'BoundedLru',
      (k, now) => a.get(k, now),
      (k, e) => a.set(k, e),
    ),
  );
  const b = new LRUCache<string, Entry>({ max: 50_000, maxSize: 32 * 1024 * 1024, sizeCalculation: (e) => e.bytes });
  // As src/decide/lru.ts uses it: lru-cache bounds count and bytes, the caller checks lifetimes.
  results['lru-cache']!.push(
    run(
      'lru-cache',
      (k, now) => {
        const e = b.get(k);
        if (e !== undefined && e.until <= now) {
          b.delete(k);
          return undefined;
        }
        return e;
      },
      (k, e) => b.set(k, e),
    ),
  );
  // Without `max`, lru-cache grows its storage instead of preallocating it for
  // every entry it may hold (~2.3 MiB at 100k entries, idle); the count bound
  // is then the caller's: pop the least recently used entry past it.
  const c = new LRUCache<string, Entry>({ maxSize: 32 * 1024 * 1024, sizeCalculation: (e) => e.bytes });
  results['lru-cache, grown']!.push(
    run(
      'lru-cache, grown',
      (k, now) => {
        const e = c.get(k);
        if (e !== undefined && e.until <= now) {
          c.delete(k);
          return undefined;
        }
        return e;
      },
      (k, e) => {
        c.set(k, e);
        if (c.size > 50_000) c.pop();
      },
    ),
  );
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const summary = {
  command: 'npx node loadtest/micro/lru.ts --write',
  node: process.version,
  operations_per_round: N,
  rounds: 5,
  median_ns_per_op: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.round(median(v) * 10) / 10])),
};
console.log(JSON.stringify(summary));
if (process.argv.includes('--write')) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(new URL('../results/micro-lru.json', import.meta.url), `${JSON.stringify(summary, null, 2)}\n`);
}
