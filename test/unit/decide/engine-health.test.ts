import { afterEach, describe, expect, it } from 'vitest';
import { createDecide, type PolicyEngine } from '../../../src/decide/engine.ts';
import { createEngineHealth, type EngineHealth } from '../../../src/decide/engine-health.ts';
import type { PolicyInput } from '../../../src/decide/input.ts';
import { SarkError } from '../../../src/errors.ts';
import { createMetrics } from '../../../src/observe/metrics.ts';
import { parseExposition, sumOf } from '../../support/metrics-text.ts';

const INPUT = { action: 'gateway:tool:invoke', agent: { id: 'a' }, server: { id: 'demo' } } as unknown as PolicyInput;

function gauge() {
  const g = { value: Number.NaN, set: (v: number) => (g.value = v) };
  return g;
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const open: EngineHealth[] = [];
afterEach(() => {
  for (const h of open.splice(0)) h.close();
});

describe('engine health (sark_policy_engine_up)', () => {
  it('is 1 from the start and while decisions are answered, with no probe at all', () => {
    const g = gauge();
    const h = createEngineHealth({ probe: async () => false }, { probeIntervalMs: 0 }, g);
    open.push(h);
    expect(g.value).toBe(1);
    for (let i = 0; i < 100; i++) h.answered();
    expect(g.value).toBe(1);
  });

  it('a single failure right after an answer is not an outage; failures past the grace are', async () => {
    const g = gauge();
    const h = createEngineHealth({ probe: async () => true }, { probeIntervalMs: 0, graceMs: 50 }, g);
    open.push(h);
    h.answered();
    h.failed();
    expect(g.value).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    h.failed();
    expect(g.value).toBe(0);
    expect(h.up).toBe(false);
    h.answered();
    expect(g.value).toBe(1);
  });

  it('probes an idle engine: an engine that is down at start reads 0, and 1 once it answers again', async () => {
    const g = gauge();
    let healthy = false;
    let probes = 0;
    const h = createEngineHealth(
      {
        probe: async () => {
          probes++;
          return healthy;
        },
      },
      { probeIntervalMs: 20, graceMs: 10 },
      g,
    );
    open.push(h);
    await until('down', () => g.value === 0);
    healthy = true;
    await until('up again', () => g.value === 1);
    expect(probes).toBeGreaterThanOrEqual(2);
  });

  it('does not probe an engine that decisions keep busy', async () => {
    let probes = 0;
    const h = createEngineHealth(
      {
        probe: async () => {
          probes++;
          return true;
        },
      },
      { probeIntervalMs: 40 },
      gauge(),
    );
    open.push(h);
    await until('first probe', () => probes === 1);
    const stop = Date.now() + 200;
    while (Date.now() < stop) {
      h.answered();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(probes).toBe(1);
  });
});

describe('createDecide records what each decision did', () => {
  function engine(behaviour: () => unknown): PolicyEngine {
    return {
      name: 'opa',
      evaluate: async () => behaviour(),
      probe: async () => true,
      close: async () => {},
    };
  }

  it('counts decisions with a bounded reason, times them by engine and cache level, and feeds the health', async () => {
    const metrics = createMetrics();
    const events: string[] = [];
    const health = { answered: () => events.push('ok'), failed: () => events.push('fail') };
    let answer: () => unknown = () => ({ allow: false, reasons: [{ code: 'tool_not_granted' }] });
    const decide = createDecide(
      engine(() => answer()),
      metrics,
      { health },
    );
    await decide(INPUT);
    answer = () => ({ allow: false, reasons: [{ code: 'team_specific_reason_42' }] });
    await decide(INPUT);
    answer = () => ({ allow: true });
    await decide(INPUT);
    answer = () => {
      throw new SarkError('SARK_POLICY_TIMEOUT');
    };
    const d = await decide(INPUT);
    expect(d.allow).toBe(false);
    answer = () => 'not a decision';
    await decide(INPUT);

    const s = parseExposition(await metrics.registry.metrics());
    expect(sumOf(s, 'sark_decisions_total', { decision: 'deny', reason: 'tool_not_granted' })).toBe(1);
    expect(sumOf(s, 'sark_decisions_total', { decision: 'deny', reason: 'other' })).toBe(1);
    expect(sumOf(s, 'sark_decisions_total', { decision: 'allow', reason: 'allowed' })).toBe(1);
    expect(sumOf(s, 'sark_decisions_total', { decision: 'deny', reason: 'policy_timeout' })).toBe(1);
    expect(sumOf(s, 'sark_decisions_total', { decision: 'deny', reason: 'policy_malformed' })).toBe(1);
    expect(sumOf(s, 'sark_decision_duration_seconds_count', { engine: 'opa', cache: 'none' })).toBe(5);
    // A malformed answer is still an answer: the policy is wrong, the engine is up.
    expect(events).toEqual(['ok', 'ok', 'ok', 'fail', 'ok']);
  });

  it('a cache hit asks nothing of the engine and reports nothing to its health', async () => {
    const metrics = createMetrics();
    const events: string[] = [];
    const decide = createDecide(
      engine(() => ({ allow: true })),
      metrics,
      {
        lookup: async () => ({ value: { allow: true }, hit: true, level: 'l1' }),
        health: { answered: () => events.push('ok'), failed: () => events.push('fail') },
      },
    );
    const d = await decide(INPUT);
    expect(d.cacheHit).toBe(true);
    const s = parseExposition(await metrics.registry.metrics());
    expect(sumOf(s, 'sark_decision_duration_seconds_count', { engine: 'opa', cache: 'l1' })).toBe(1);
    expect(events).toEqual([]);
  });
});
