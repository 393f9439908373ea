import { describe, expect, it } from 'vitest';
import { createPolicyBreaker } from '../../../src/decide/breaker.ts';
import { createDecide, type PolicyEngine } from '../../../src/decide/engine.ts';
import type { PolicyInput } from '../../../src/decide/input.ts';
import { SarkError } from '../../../src/errors.ts';
import { createLogger } from '../../../src/observe/logger.ts';
import { createMetrics } from '../../../src/observe/metrics.ts';

const INPUT = { action: 'gateway:tool:invoke', agent: { id: 'a' }, server: { id: 'demo' } } as unknown as PolicyInput;
const OPTIONS = { errorPercent: 50, volume: 4, windowMs: 10_000, resetMs: 100 };

function engine() {
  let calls = 0;
  let failing: SarkError | undefined;
  const e: PolicyEngine = {
    name: 'opa',
    async evaluate() {
      calls++;
      if (failing) throw failing;
      return { allow: true, reasons: [] };
    },
    probe: async () => true,
    close: async () => {},
  };
  return {
    e,
    get calls() {
      return calls;
    },
    fail(err: SarkError | undefined) {
      failing = err;
    },
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function counter(metrics: ReturnType<typeof createMetrics>, state: string) {
  const m = await metrics.decide.breakerTransitions.get();
  return m.values.find((v) => v.labels.state === state)?.value ?? 0;
}

describe('policy circuit breaker', () => {
  it('rejects bad options at construction', () => {
    const { e } = engine();
    const m = createMetrics().decide;
    const log = createLogger('silent');
    expect(() => createPolicyBreaker(e, { ...OPTIONS, volume: 0 }, m, log)).toThrow(/volume/);
    expect(() => createPolicyBreaker(e, { ...OPTIONS, errorPercent: 101 }, m, log)).toThrow(/errorPercent/);
  });

  it('opens on errors, denies at once with policy_circuit_open, half-opens, closes on recovery', async () => {
    const f = engine();
    const metrics = createMetrics();
    const lines: string[] = [];
    const logger = createLogger('info', { write: (l: string) => lines.push(l) });
    const breaker = createPolicyBreaker(f.e, OPTIONS, metrics.decide, logger);
    const decide = createDecide(breaker, metrics);

    expect((await decide(INPUT)).allow).toBe(true);
    f.fail(new SarkError('SARK_POLICY_TIMEOUT'));
    // 1 success + 3 timeouts = 4 calls (the volume), 75 % failed > 50 %: open.
    for (let i = 0; i < 3; i++) expect((await decide(INPUT)).failure?.code).toBe('SARK_POLICY_TIMEOUT');
    expect(breaker.state).toBe('open');
    expect((await metrics.decide.breakerState.get()).values[0]?.value).toBe(2);

    // Open: denied without calling the engine, with its own reason.
    const before = f.calls;
    const started = performance.now();
    const d = await decide(INPUT);
    expect(performance.now() - started).toBeLessThan(20);
    expect(d.allow).toBe(false);
    expect(d.failure?.code).toBe('SARK_POLICY_CIRCUIT_OPEN');
    expect(d.reasons[0]?.code).toBe('policy_circuit_open');
    expect(f.calls).toBe(before);
    expect((await metrics.decide.breakerRejections.get()).values[0]?.value).toBe(1);

    // Half-open probe fails → open again.
    await until('half-open', () => breaker.state === 'half_open');
    expect((await decide(INPUT)).failure?.code).toBe('SARK_POLICY_TIMEOUT');
    expect(breaker.state).toBe('open');

    // Engine recovers: the next probe closes it.
    f.fail(undefined);
    await until('half-open again', () => breaker.state === 'half_open');
    expect((await decide(INPUT)).allow).toBe(true);
    expect(breaker.state).toBe('closed');
    expect((await metrics.decide.breakerState.get()).values[0]?.value).toBe(0);
    expect(await counter(metrics, 'open')).toBe(2);
    expect(await counter(metrics, 'half_open')).toBe(2);
    expect(await counter(metrics, 'closed')).toBe(1);

    // One log line per state change, none per request.
    const transitions = lines.map((l) => JSON.parse(l)).filter((l) => /circuit breaker/.test(l.msg));
    expect(transitions.map((l) => l.state)).toEqual(['open', 'half_open', 'open', 'half_open', 'closed']);
    await breaker.close();
  });

  it('while half-open only one probe reaches the engine; the rest are denied', async () => {
    const f = engine();
    const breaker = createPolicyBreaker(f.e, OPTIONS, createMetrics().decide, createLogger('silent'));
    const decide = createDecide(breaker, createMetrics());
    f.fail(new SarkError('SARK_POLICY_UNAVAILABLE'));
    for (let i = 0; i < 4; i++) await decide(INPUT);
    await until('half-open', () => breaker.state === 'half_open');
    const before = f.calls;
    const results = await Promise.all(Array.from({ length: 10 }, () => decide(INPUT)));
    expect(f.calls - before).toBe(1);
    expect(results.every((r) => !r.allow)).toBe(true);
    expect(results.filter((r) => r.failure?.code === 'SARK_POLICY_CIRCUIT_OPEN')).toHaveLength(9);
    await breaker.close();
  });

  it('stays closed below the volume threshold', async () => {
    const f = engine();
    const breaker = createPolicyBreaker(
      f.e,
      { ...OPTIONS, volume: 100 },
      createMetrics().decide,
      createLogger('silent'),
    );
    f.fail(new SarkError('SARK_POLICY_UNAVAILABLE'));
    for (let i = 0; i < 20; i++) await breaker.evaluate(INPUT).catch(() => {});
    expect(breaker.state).toBe('closed');
    expect(f.calls).toBe(20);
    await breaker.close();
  });
});
