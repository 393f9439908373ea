/**
 * Writes the policy's generated files, in this order:
 *   1. opa/data/index.json: the gateway index (data.sark.index), evaluated from
 *      the data by the policy itself (data.sark.gateway.compiled_index); a Rego
 *      test fails when it is stale (gateway_index_test.rego);
 *   2. the WebAssembly bundle the embedded evaluator loads, opa/build/policy.wasm
 *      and opa/build/data.json, compiled from opa/policies and opa/data (without
 *      the index); test/unit/decide/policy-build.test.ts fails when they are stale.
 * The files are committed so `sark serve` needs no OPA.
 *
 *   node scripts/build-policy.ts            write opa/data/index.json and opa/build/
 *   node scripts/build-policy.ts --out DIR  write DIR/ only (used by the staleness test)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireOpa } from './tools.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const ENTRYPOINTS = ['sark/gateway/decision', 'sark/a2a/decision'];

export const INDEX_FILE = join(ROOT, 'opa', 'data', 'index.json');

/**
 * Evaluates the gateway index (data.sark.gateway.compiled_index) over the given
 * policy and data paths and returns it as the data document to load beside
 * them: { sark: { index } }. Paths must not already hold an index.
 */
export function compileIndex(paths: string[]): { sark: { index: unknown } } {
  const args = ['eval', '-f', 'json', '--ignore', '*_test.rego', '--ignore', 'index.json'];
  for (const p of paths) args.push('-d', p);
  const out = execFileSync(requireOpa(), [...args, 'data.sark.gateway.compiled_index'], {
    cwd: ROOT,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { sark: { index: JSON.parse(out.toString('utf8')).result[0].expressions[0].value } };
}

/** Writes the index of opa/policies and opa/data to INDEX_FILE. */
export function buildIndex(): void {
  writeFileSync(INDEX_FILE, `${JSON.stringify(compileIndex(['opa/policies', 'opa/data']), null, 2)}\n`);
}

export function buildPolicy(outDir: string): void {
  const opa = requireOpa();
  const work = mkdtempSync(join(tmpdir(), 'sark-policy-'));
  try {
    const bundle = join(work, 'bundle.tar.gz');
    // Without the gateway index: in the WebAssembly evaluator its guards (deep
    // comparisons of whole documents) cost more than the index saves (opa/BENCH.md, round four).
    const args = ['build', '-t', 'wasm', '-o', bundle, '--ignore', '*_test.rego', '--ignore', 'index.json'];
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
  if (i === -1) {
    buildIndex();
    process.stdout.write(`gateway index written to ${INDEX_FILE}\n`);
  }
  buildPolicy(out);
  process.stdout.write(`policy bundle written to ${out}\n`);
}
