import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BoundCounter, BoundHistogram } from '../../../src/observe/bound-metrics.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1];

function pair() {
  const bound = new Registry();
  const plain = new Registry();
  for (const r of [bound, plain]) r.setDefaultLabels({ server: 'demo' });
  return { bound, plain };
}

describe('BoundHistogram', () => {
  it('exports exactly what prom-client’s Histogram exports for the same observations', async () => {
    const { bound, plain } = pair();
    const config = { name: 'h_seconds', help: 'h', labelNames: ['method', 'outcome'] as const, buckets: BUCKETS };
    const b = new BoundHistogram({ ...config, labelNames: [...config.labelNames], registers: [bound] });
    const p = new Histogram({ ...config, labelNames: [...config.labelNames], registers: [plain] });
    // Values on bounds, between them, above the last, and zero.
    const calls: [string, string, number][] = [
      ['tools/call', 'allow', 0.0005],
      ['tools/call', 'allow', 0.01],
      ['tools/call', 'deny', 0.5],
      ['tools/list', 'allow', 3],
      ['tools/call', 'allow', 0],
    ];
    for (const [m, o, v] of calls) {
      b.labels(m, o).observe(v);
      p.labels(m, o).observe(v);
    }
    b.observe({ method: 'ping', outcome: 'allow' }, 0.02);
    p.observe({ method: 'ping', outcome: 'allow' }, 0.02);
    // A child named but never used exports nothing, as in prom-client.
    b.labels('initialize', 'error');
    p.labels('initialize', 'error');
    expect(await bound.metrics()).toBe(await plain.metrics());
    expect(await b.get()).toEqual(await p.get());
  });

  it('starts over on reset, and a kept child counts again afterwards', async () => {
    const { bound, plain } = pair();
    const b = new BoundHistogram({
      name: 'r_seconds',
      help: 'r',
      labelNames: ['k'],
      buckets: BUCKETS,
      registers: [bound],
    });
    const p = new Histogram({ name: 'r_seconds', help: 'r', labelNames: ['k'], buckets: BUCKETS, registers: [plain] });
    const child = b.labels('a');
    child.observe(0.5);
    p.labels('a').observe(0.5);
    b.reset();
    p.reset();
    expect(await bound.metrics()).toBe(await plain.metrics());
    child.observe(0.05);
    p.labels('a').observe(0.05);
    expect(await bound.metrics()).toBe(await plain.metrics());
  });

  it('times with a child’s startTimer', async () => {
    const b = new BoundHistogram({ name: 't_seconds', help: 't', labelNames: ['k'], buckets: BUCKETS, registers: [] });
    const end = b.labels('a').startTimer();
    expect(end()).toBeGreaterThanOrEqual(0);
    const data = await b.get();
    expect(data.values.find((v) => v.metricName === 't_seconds_count')?.value).toBe(1);
  });

  it('refuses a wrong label set and a value that is not a number', () => {
    const b = new BoundHistogram({ name: 'v_seconds', help: 'v', labelNames: ['k'], buckets: BUCKETS, registers: [] });
    expect(() => b.labels('a', 'b')).toThrow(/expected 1 label values/);
    expect(() => b.observe({ nope: 'x' } as never, 1)).toThrow(/not one of/);
    expect(() => b.labels('a').observe(Number.NaN)).toThrow(/not a valid number/);
  });
});

describe('BoundCounter', () => {
  it('exports exactly what prom-client’s Counter exports for the same increments', async () => {
    const { bound, plain } = pair();
    const b = new BoundCounter({ name: 'c_total', help: 'c', labelNames: ['decision', 'reason'], registers: [bound] });
    const p = new Counter({ name: 'c_total', help: 'c', labelNames: ['decision', 'reason'], registers: [plain] });
    for (const [d, r, n] of [
      ['allow', 'ok', 1],
      ['deny', 'x', 3],
      ['allow', 'ok', 2],
    ] as const) {
      b.labels(d, r).inc(n);
      p.labels(d, r).inc(n);
    }
    b.labels({ decision: 'deny', reason: 'y' }).inc();
    p.labels({ decision: 'deny', reason: 'y' }).inc();
    expect(await bound.metrics()).toBe(await plain.metrics());
    // Increments between scrapes add up; a scrape with nothing new changes nothing.
    b.labels('allow', 'ok').inc();
    p.labels('allow', 'ok').inc();
    expect(await bound.metrics()).toBe(await plain.metrics());
    expect(await bound.metrics()).toBe(await plain.metrics());
    b.reset();
    p.reset();
    expect(await bound.metrics()).toBe(await plain.metrics());
  });

  it('refuses a decrement', () => {
    const b = new BoundCounter({ name: 'd_total', help: 'd', labelNames: ['k'], registers: [] });
    expect(() => b.labels('a').inc(-1)).toThrow(/only increases/);
  });
});
