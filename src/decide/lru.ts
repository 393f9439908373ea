/**
 * The in-process level of the decision cache and the local rate-limit
 * buckets: least-recently-used entries bounded both in count and in
 * (approximate) bytes, on lru-cache (measured faster than the hand-written
 * Map LRU it replaced: loadtest/micro/lru.ts, loadtest/results/micro-lru.json).
 * Lifetimes are the caller's: an entry carries when it stops being fresh
 * (`expiresAt`) and when it may no longer be served at all (`until`, later
 * for degraded mode), checked against the caller's clock on every read.
 */
import { LRUCache } from 'lru-cache';

export interface LruEntry<V> {
  readonly value: V;
  /** Fresh until this epoch ms. */
  readonly expiresAt: number;
  /** Kept (for degraded mode) until this epoch ms; >= expiresAt. */
  readonly until: number;
  readonly bytes: number;
}

export class BoundedLru<V> {
  readonly #cache: LRUCache<string, LruEntry<V>>;
  readonly #maxEntries: number;

  constructor(maxEntries: number, maxBytes: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new TypeError(`maxEntries must be >= 1, got ${maxEntries}`);
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new TypeError(`maxBytes must be >= 1, got ${maxBytes}`);
    // No `max`: with it lru-cache preallocates storage for every entry it may
    // ever hold (about 2.3 MiB of an idle sidecar's heap at 100k entries, per
    // cache); without, it grows with use, and set() keeps the count bound.
    // Measured faster too (loadtest/micro/lru.ts, results/micro-lru.json).
    this.#maxEntries = maxEntries;
    this.#cache = new LRUCache<string, LruEntry<V>>({ maxSize: maxBytes, sizeCalculation: (e) => e.bytes });
  }

  get size(): number {
    return this.#cache.size;
  }

  get bytes(): number {
    return this.#cache.calculatedSize;
  }

  /** The entry (fresh or only kept for degraded mode), or undefined. */
  get(key: string, now: number): LruEntry<V> | undefined {
    const entry = this.#cache.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= now) {
      this.#cache.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Stores the entry; one larger than the whole byte bound is not stored. */
  set(key: string, entry: LruEntry<V>): void {
    if (entry.bytes > this.#cache.maxSize) {
      this.#cache.delete(key);
      return;
    }
    this.#cache.set(key, entry);
    if (this.#cache.size > this.#maxEntries) this.#cache.pop();
  }

  clear(): void {
    this.#cache.clear();
  }
}
