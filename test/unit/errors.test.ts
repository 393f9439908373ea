import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorKinds, SarkError } from '../../src/errors.ts';

describe('error catalogue', () => {
  const entries = Object.entries(ErrorKinds);

  it('pins the number of codes (update docs/errors.md when this changes)', () => {
    expect(entries.length).toBe(39);
  });

  it('keys equal their codes, reasons are snake_case and unique', () => {
    const reasons = new Set<string>();
    for (const [key, kind] of entries) {
      expect(kind.code).toBe(key);
      expect(kind.code).toMatch(/^SARK_[A-Z_]+$/);
      expect(kind.reason).toMatch(/^[a-z][a-z_]*$/);
      expect(reasons.has(kind.reason)).toBe(false);
      reasons.add(kind.reason);
    }
  });

  it('every code is listed in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const [key, kind] of entries) {
      expect(doc).toContain(`\`${key}\``);
      expect(doc).toContain(String(kind.rpcCode));
    }
  });

  it('client text never carries the operator detail', () => {
    const err = new SarkError('SARK_POLICY_UNAVAILABLE', { detail: 'connect ECONNREFUSED 10.0.0.7:8181' });
    expect(err.message).toContain('10.0.0.7');
    expect(err.safeMessage).not.toContain('10.0.0.7');
  });
});
