import { describe, expect, it } from 'vitest';
import { failClosed, primaryReason, toDecision } from '../../../src/decide/decision.ts';
import { createDecide, type PolicyEngine } from '../../../src/decide/engine.ts';
import type { PolicyInput } from '../../../src/decide/input.ts';
import { SarkError } from '../../../src/errors.ts';
import { createMetrics } from '../../../src/observe/metrics.ts';

function engine(evaluate: () => Promise<unknown>): PolicyEngine {
  return { name: 'opa', evaluate, probe: async () => true, close: async () => {} };
}

describe('decision contract (fail closed)', () => {
  it('allows only a boolean true allow', () => {
    expect(toDecision({ allow: true }).allow).toBe(true);
    expect(toDecision({ allow: false, reasons: [{ code: 'x_y' }] }).allow).toBe(false);
  });

  it.each([
    undefined,
    null,
    true,
    'allow',
    [],
    {},
    { allow: 'true' },
    { allow: 1 },
    { allow: true, reasons: 'no' },
    { allow: true, reasons: [{ code: 'Bad Code' }] },
  ])('malformed %j → throws SARK_POLICY_MALFORMED', (value) => {
    expect(() => toDecision(value)).toThrow(SarkError);
  });

  it('a decision carries the engine revision and no cache hit when no cache is in front', async () => {
    const metrics = createMetrics();
    const fixed: PolicyEngine = { ...engine(async () => ({ allow: true })), revision: 'embedded:0123456789ab' };
    const d = await createDecide(fixed, metrics)({} as PolicyInput);
    expect([d.allow, d.cacheHit, d.policyRevision]).toEqual([true, false, 'embedded:0123456789ab']);
    const unknown = await createDecide(
      engine(async () => undefined),
      metrics,
    )({} as PolicyInput);
    expect([unknown.allow, unknown.policyRevision]).toEqual([false, null]);
  });

  it('every engine failure becomes a deny with its reason', async () => {
    const metrics = createMetrics();
    const input = {} as PolicyInput;
    const cases: [() => Promise<unknown>, string][] = [
      [async () => undefined, 'policy_malformed'],
      [async () => ({ allow: 'yes' }), 'policy_malformed'],
      [
        async () => {
          throw new SarkError('SARK_POLICY_TIMEOUT');
        },
        'policy_timeout',
      ],
      [
        async () => {
          throw new Error('boom');
        },
        'policy_unavailable',
      ],
      [
        async () => {
          throw 'a string';
        },
        'policy_unavailable',
      ],
    ];
    for (const [evaluate, reason] of cases) {
      const d = await createDecide(engine(evaluate), metrics)(input);
      expect(d.allow).toBe(false);
      expect(primaryReason(d)).toBe(reason);
    }
    expect(
      (
        await createDecide(
          engine(async () => ({ allow: true })),
          metrics,
        )(input)
      ).allow,
    ).toBe(true);
  });

  it('failClosed keeps policy errors and wraps others', () => {
    expect(failClosed(new SarkError('SARK_POLICY_TIMEOUT')).failure?.code).toBe('SARK_POLICY_TIMEOUT');
    expect(failClosed(new SarkError('SARK_INTERNAL')).failure?.code).toBe('SARK_POLICY_UNAVAILABLE');
  });
});
