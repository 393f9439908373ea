/**
 * prom-client's Counter and Histogram with label children that cost one
 * array update per call.
 *
 * prom-client's `labels(...)` children rebuild and hash the label object on
 * every `inc()` and `observe()`. A tools/call makes about a dozen of them
 * (request, tool, upstream, decision, cache and audit series), and the
 * request path's CPU profile put prom-client at about 25 µs per call, more
 * than any SARK stage (loadtest/results, `--cpu-prof`). These children keep
 * their own slots instead:
 *
 * - BoundCounter: a child adds to a pending number; a scrape (`get()`) hands
 *   each pending sum to prom-client's own `inc(labels, n)` first, so
 *   prom-client's storage stays the only truth.
 * - BoundHistogram: a child keeps its bucket counts, sum and count; a scrape
 *   appends its series after prom-client's, in the exposition's own shape
 *   (cumulative `le` buckets, `+Inf`, `_sum`, `_count`). The unlabelled and
 *   object forms of `observe` go to the children too, so one label set never
 *   appears twice.
 *
 * A child exists once `labels()` named it, and exports once it counted
 * something, as in prom-client. `reset()` empties both.
 */
import { Counter, type CounterConfiguration, Histogram, type HistogramConfiguration } from 'prom-client';

type Labels = Record<string, string | number>;

function labelsOf(names: readonly string[], values: readonly (string | number)[]): Labels {
  if (values.length !== names.length) {
    throw new TypeError(`expected ${names.length} label values (${names.join(', ')}), got ${values.length}`);
  }
  const labels: Labels = {};
  for (let i = 0; i < names.length; i++) labels[names[i]!] = values[i]!;
  return labels;
}

/** The label values of `labels(...)`: positional, or one object by name. */
function valuesOf(names: readonly string[], args: readonly unknown[]): (string | number)[] {
  if (args.length === 1 && args[0] !== null && typeof args[0] === 'object') {
    const byName = args[0] as Labels;
    for (const k of Object.keys(byName)) {
      if (!names.includes(k)) throw new TypeError(`label "${k}" is not one of ${names.join(', ')}`);
    }
    return names.map((n) => {
      const v = byName[n];
      if (v === undefined) throw new TypeError(`label "${n}" is missing`);
      return v;
    });
  }
  return args as (string | number)[];
}

class CounterChild {
  pending = 0;
  readonly labels: Labels;
  constructor(labels: Labels) {
    this.labels = labels;
  }
  inc(value = 1): void {
    if (!(value >= 0) || !Number.isFinite(value)) throw new TypeError(`a counter only increases: ${value}`);
    this.pending += value;
  }
}

export class BoundCounter<T extends string = string> extends Counter<T> {
  readonly #children = new Map<string, CounterChild>();
  readonly #names: readonly string[];

  constructor(config: CounterConfiguration<T>) {
    super(config);
    this.#names = config.labelNames ?? [];
  }

  override labels(...args: unknown[]): { inc(value?: number): void } {
    const values = valuesOf(this.#names, args);
    const key = values.join('\u0000');
    let child = this.#children.get(key);
    if (child === undefined) {
      child = new CounterChild(labelsOf(this.#names, values));
      this.#children.set(key, child);
    }
    return child;
  }

  override async get(): ReturnType<Counter<T>['get']> {
    for (const child of this.#children.values()) {
      if (child.pending === 0) continue;
      const n = child.pending;
      child.pending = 0;
      this.inc(child.labels as never, n);
    }
    return super.get();
  }

  override reset(): void {
    // prom-client's constructor resets before this class's fields exist.
    if (#children in this) for (const child of this.#children.values()) child.pending = 0;
    super.reset();
  }
}

class HistogramChild {
  sum = 0;
  count = 0;
  readonly buckets: Float64Array;
  readonly labels: Labels;
  readonly bounds: readonly number[];
  /** The owner's children that have counted: they export. */
  readonly counted: Set<HistogramChild>;
  constructor(labels: Labels, bounds: readonly number[], counted: Set<HistogramChild>) {
    this.labels = labels;
    this.bounds = bounds;
    this.counted = counted;
    this.buckets = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    if (this.count === 0) this.counted.add(this);
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.buckets[i]! += 1;
        break;
      }
    }
    this.sum += value;
    this.count += 1;
  }
  startTimer(): () => number {
    const start = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.observe(seconds);
      return seconds;
    };
  }
}

interface SeriesValue {
  value: number;
  labels: Labels;
  sharedLabels?: Labels;
  metricName: string;
  /** As prom-client's: null on buckets, undefined on _sum and _count (no exemplars). */
  exemplar: null | undefined;
}

export class BoundHistogram<T extends string = string> extends Histogram<T> {
  readonly #children = new Map<string, HistogramChild>();
  /** Children in the order they first counted, as prom-client orders its series. */
  readonly #counted = new Set<HistogramChild>();
  readonly #names: readonly string[];
  readonly #bounds: readonly number[];
  readonly #name: string;

  constructor(config: HistogramConfiguration<T>) {
    super(config);
    this.#name = config.name;
    this.#names = config.labelNames ?? [];
    this.#bounds = [...(config.buckets ?? (this as unknown as { upperBounds: number[] }).upperBounds)].sort(
      (a, b) => a - b,
    );
    // prom-client sets `observe` on the instance in its constructor; this one replaces it.
    (this as { observe: unknown }).observe = (labelsOrValue: Labels | number, value?: number) =>
      this.#observe(labelsOrValue, value);
  }

  #child(values: (string | number)[]): HistogramChild {
    const key = values.join('\u0000');
    let child = this.#children.get(key);
    if (child === undefined) {
      child = new HistogramChild(labelsOf(this.#names, values), this.#bounds, this.#counted);
      this.#children.set(key, child);
    }
    return child;
  }

  override labels(...args: unknown[]): { observe(value: number): void; startTimer(): () => number } {
    return this.#child(valuesOf(this.#names, args));
  }

  #observe(labelsOrValue: Labels | number, value?: number): void {
    if (typeof labelsOrValue === 'number') this.#child([]).observe(labelsOrValue);
    else this.#child(valuesOf(this.#names, [labelsOrValue])).observe(value!);
  }

  /**
   * What the registry formats (prom-client's registry reads this when a
   * metric has it; `get()` reads it too). Not in prom-client's typings.
   */
  async getForPromString(): ReturnType<Histogram<T>['get']> {
    const own = (Histogram.prototype as unknown as { getForPromString(): ReturnType<Histogram<T>['get']> })
      .getForPromString;
    const data = await own.call(this);
    const values = data.values as unknown as SeriesValue[];
    const name = this.#name;
    const bucketName = `${name}_bucket`;
    for (const c of this.#counted) {
      let acc = 0;
      for (let i = 0; i < c.bounds.length; i++) {
        acc += c.buckets[i]!;
        values.push({
          labels: { le: c.bounds[i]! },
          sharedLabels: c.labels,
          value: acc,
          metricName: bucketName,
          exemplar: null,
        });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: c.labels, value: c.count, metricName: bucketName, exemplar: null },
        { labels: {}, sharedLabels: c.labels, value: c.sum, metricName: `${name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: c.labels, value: c.count, metricName: `${name}_count`, exemplar: undefined },
      );
    }
    return data;
  }

  override reset(): void {
    // prom-client's constructor resets before this class's fields exist.
    if (#children in this) {
      for (const c of this.#children.values()) {
        c.buckets.fill(0);
        c.sum = 0;
        c.count = 0;
      }
      // Each exports again from its next count.
      this.#counted.clear();
    }
    super.reset();
  }
}
