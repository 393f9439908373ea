/**
 * Compiles the repo's Rego (opa/policies, opa/data) to the WebAssembly bundle
 * the embedded evaluator loads: opa/build/policy.wasm and opa/build/data.json.
 * Those files are committed so `sark serve` needs no OPA; the test
 * test/unit/decide/policy-build.test.ts fails when they are stale.
 *
 *   node scripts/build-policy.ts            write opa/build/
 *   node scripts/build-policy.ts --out DIR  write DIR/ (used by the staleness test)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireOpa } from './tools.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const ENTRYPOINTS = ['sark/gateway/decision', 'sark/a2a/decision'];

export function buildPolicy(outDir: string): void {
  const opa = requireOpa();
  const work = mkdtempSync(join(tmpdir(), 'sark-policy-'));
  try {
    const bundle = join(work, 'bundle.tar.gz');
    const args = ['build', '-t', 'wasm', '-o', bundle, '--ignore', '*_test.rego'];
    for (const e of ENTRYPOINTS) args.push('-e', e);
    execFileSync(opa, [...args, 'opa/policies', 'opa/data'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    execFileSync('tar', ['-xzf', bundle, '-C', work, '/policy.wasm', '/data.json'], { stdio: 'ignore' });
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'policy.wasm'), readFileSync(join(work, 'policy.wasm')));
    const data = JSON.parse(readFileSync(join(work, 'data.json'), 'utf8'));
    writeFileSync(join(outDir, 'data.json'), `${JSON.stringify(data, null, 2)}\n`);
    writeFileSync(
      join(outDir, 'README.md'),
      '# Generated, do not edit\n\nBuilt by `npm run policy:build` from `opa/policies` and `opa/data` ' +
        `(entrypoints: ${ENTRYPOINTS.join(', ')}).\nThe embedded evaluator loads these files; a test fails when they are stale.\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--out');
  const out = i === -1 ? join(ROOT, 'opa', 'build') : process.argv[i + 1]!;
  buildPolicy(out);
  process.stdout.write(`policy bundle written to ${out}\n`);
}
