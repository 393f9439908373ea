import { describe, expect, it } from 'vitest';
import type { Decision } from '../../../src/decide/decision.ts';
import { applyArgumentObligation, NO_OBLIGATIONS, obligationsOf } from '../../../src/decide/obligations.ts';

function decision(doc: Record<string, unknown>): Decision {
  return { allow: true, reasons: [], document: { allow: true, ...doc }, failure: undefined };
}

describe('obligations', () => {
  it('none when the decision carries none', () => {
    expect(obligationsOf(decision({}))).toBe(NO_OBLIGATIONS);
    expect(
      obligationsOf(
        decision({
          obligations: { arguments: { replace: null, drop: [], redact: [], placeholder: 'x' } },
          visible_tools: null,
        }),
      ),
    ).toBe(NO_OBLIGATIONS);
  });

  it('reads visible tools and the cache bound', () => {
    const o = obligationsOf(decision({ visible_tools: ['echo'], cache: { ttl_seconds: 30, scope: 'target' } }));
    expect([...(o.visibleTools ?? [])]).toEqual(['echo']);
    expect(o.maxTtlMs).toBe(30_000);
  });

  it.each([
    [{ obligations: 'x' }],
    [{ obligations: { arguments: { replace: [1], drop: [], redact: [] } } }],
    [{ obligations: { arguments: { replace: null, drop: ['no-slash'], redact: [] } } }],
    [{ obligations: { arguments: { replace: null, drop: [], redact: [3] } } }],
    [{ visible_tools: 'echo' }],
    [{ visible_tools: [1] }],
  ])('malformed %j → SARK_POLICY_MALFORMED', (doc) => {
    expect(() => obligationsOf(decision(doc))).toThrow(/obligations/);
  });

  it('drops, redacts (nested, escaped pointers) and replaces without mutating the input', () => {
    const args = { path: '/a', auth: { token: 't', 'x/y': 1, 'a~b': 2 }, list: [1, 2, 3], keep: true };
    const out = applyArgumentObligation(args, {
      replace: null,
      drop: ['/list/1', '/missing/deep', '/auth/x~1y'],
      redact: ['/auth/token', '/auth/a~0b', '/absent'],
      placeholder: '[REDACTED]',
    });
    expect(out).toEqual({ path: '/a', auth: { token: '[REDACTED]', 'a~b': '[REDACTED]' }, list: [1, 3], keep: true });
    expect(args.auth.token).toBe('t');
    expect(args.list).toEqual([1, 2, 3]);
    expect(applyArgumentObligation(args, { replace: { forced: 1 }, drop: [], redact: [], placeholder: 'x' })).toEqual({
      forced: 1,
    });
  });
});
