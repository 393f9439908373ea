import { describe, expect, it } from 'vitest';
import type { Decision } from '../../../src/decide/decision.ts';
import { applyArgumentEdit, auditLevelOf, type Obligation, obligationsOf } from '../../../src/decide/obligations.ts';

function decision(doc: Record<string, unknown>): Decision {
  return { allow: true, reasons: [], document: { allow: true, ...doc }, failure: undefined };
}

const kinds = (o: readonly Obligation[]) => o.map((x) => x.kind);

describe('obligations', () => {
  it('none when the decision carries none', () => {
    expect(obligationsOf(decision({}), 'gateway:tool:invoke')).toEqual([]);
    expect(
      obligationsOf(
        decision({
          obligations: { arguments: { replace: null, drop: [], redact: [], placeholder: 'x' } },
          visible_tools: null,
          audit: { level: 'basic' },
        }),
        'gateway:tool:invoke',
      ),
    ).toEqual([]);
  });

  it('each obligation names the stage it addresses', () => {
    const o = obligationsOf(
      decision({
        obligations: { arguments: { replace: null, drop: ['/a'], redact: [], placeholder: 'x' } },
        visible_tools: ['echo'],
        cache: { ttl_seconds: 30, scope: 'target' },
        audit: { level: 'full' },
      }),
      'gateway:tools:list',
    );
    expect(o.map((x) => [x.kind, x.stage])).toEqual([
      ['edit_arguments', 'obligations'],
      ['filter_tools', 'forward'],
      ['cap_ttl', 'forward'],
      ['audit', 'record'],
    ]);
    const f = o.find((x) => x.kind === 'filter_tools');
    expect(f?.kind === 'filter_tools' && [...f.visible]).toEqual(['echo']);
    const c = o.find((x) => x.kind === 'cap_ttl');
    expect(c?.kind === 'cap_ttl' && c.maxTtlMs).toBe(30_000);
  });

  it('list filters and ttl caps only for the list actions', () => {
    const doc = { visible_tools: ['echo'], cache: { ttl_seconds: 30, scope: 'target' } };
    expect(kinds(obligationsOf(decision(doc), 'gateway:tool:invoke'))).toEqual([]);
    expect(kinds(obligationsOf(decision(doc), 'gateway:prompts:list'))).toEqual(['cap_ttl']);
  });

  it('an obligation SARK does not know is kept, addressed to no stage (the pipeline refuses it)', () => {
    const o = obligationsOf(decision({ obligations: { notify: { to: 'x' } } }), 'gateway:tool:invoke');
    expect(o).toEqual([{ kind: 'unknown', stage: undefined, name: 'notify' }]);
  });

  it.each([
    [{ obligations: 'x' }],
    [{ obligations: { arguments: { replace: [1], drop: [], redact: [] } } }],
    [{ obligations: { arguments: { replace: null, drop: ['no-slash'], redact: [] } } }],
    [{ obligations: { arguments: { replace: null, drop: [], redact: [7] } } }],
    [{ obligations: { arguments: 'x' } }],
    [{ visible_tools: [1] }],
    [{ visible_tools: 'echo' }],
  ])('malformed obligations are a policy error: %j', (doc) => {
    expect(() => obligationsOf(decision(doc), 'gateway:tools:list')).toThrow(
      expect.objectContaining({ code: 'SARK_POLICY_MALFORMED' }),
    );
  });

  it('applies replace, then drop, then redact, without mutating the input', () => {
    const args = { path: '/etc/passwd', token: 'secret', nested: { a: 1, b: 2 }, list: [1, 2, 3] };
    const out = applyArgumentEdit(args, {
      replace: null,
      drop: ['/nested/a', '/list/1', '/missing'],
      redact: ['/token', '/absent'],
      placeholder: '***',
    });
    expect(out).toEqual({ path: '/etc/passwd', token: '***', nested: { b: 2 }, list: [1, 3] });
    expect(args.token).toBe('secret');
    expect(applyArgumentEdit(args, { replace: { x: 1 }, drop: [], redact: [], placeholder: '' })).toEqual({ x: 1 });
  });

  it('reads the audit level: full and none as given, anything else basic', () => {
    expect(auditLevelOf(undefined)).toBe('basic');
    expect(auditLevelOf({ allow: true })).toBe('basic');
    expect(auditLevelOf({ allow: true, audit: { level: 'full' } })).toBe('full');
    expect(auditLevelOf({ allow: true, audit: { level: 'none' } })).toBe('none');
    expect(auditLevelOf({ allow: true, audit: 'full' })).toBe('basic');
  });
});
