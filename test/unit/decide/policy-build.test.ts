/**
 * opa/build is generated (`npm run policy:build`) and committed; this test
 * rebuilds it from opa/policies and opa/data and fails on any difference, so
 * the embedded evaluator never runs a stale policy.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPolicy, ROOT } from '../../../scripts/build-policy.ts';

describe('committed policy build (opa/build)', () => {
  const out = mkdtempSync(join(tmpdir(), 'sark-policy-build-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('matches a fresh build of opa/policies and opa/data', () => {
    buildPolicy(out);
    for (const file of ['policy.wasm', 'data.json', 'README.md']) {
      const fresh = readFileSync(join(out, file));
      const committed = readFileSync(join(ROOT, 'opa', 'build', file));
      expect(fresh.equals(committed), `opa/build/${file} is stale: run npm run policy:build`).toBe(true);
    }
  }, 120_000);
});
