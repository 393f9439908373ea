/**
 * The in-process level of the decision cache: a least-recently-used map
 * bounded both in entries and in (approximate) bytes. A Map keeps insertion
 * order, so re-inserting on a hit makes the oldest key the first one; eviction
 * pops from the front. Entries past `until` are dropped when touched.
 */

export interface LruEntry<V> {
  readonly value: V;
  /** Fresh until this epoch ms. */
  readonly expiresAt: number;
  /** Kept (for degraded mode) until this epoch ms; >= expiresAt. */
  readonly until: number;
  readonly bytes: number;
}

export class BoundedLru<V> {
  readonly #map = new Map<string, LruEntry<V>>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxEntries: number, maxBytes: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new TypeError(`maxEntries must be >= 1, got ${maxEntries}`);
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new TypeError(`maxBytes must be >= 1, got ${maxBytes}`);
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#map.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The entry (fresh or only kept for degraded mode), or undefined. */
  get(key: string, now: number): LruEntry<V> | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined) return undefined;
    this.#map.delete(key);
    if (entry.until <= now) {
      this.#bytes -= entry.bytes;
      return undefined;
    }
    this.#map.set(key, entry);
    return entry;
  }

  set(key: string, entry: LruEntry<V>): void {
    if (entry.bytes > this.#maxBytes) return;
    const old = this.#map.get(key);
    if (old !== undefined) {
      this.#map.delete(key);
      this.#bytes -= old.bytes;
    }
    this.#map.set(key, entry);
    this.#bytes += entry.bytes;
    while (this.#map.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const first = this.#map.entries().next().value;
      if (first === undefined) break;
      this.#map.delete(first[0]);
      this.#bytes -= first[1].bytes;
    }
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }
}
