/**
 * The policy quality gates (`npm run test:policy`), in order:
 *   1. opa fmt --diff          any formatting difference fails
 *   2. opa check --strict      with the input schemas (type-checks input refs)
 *   3. opa test --coverage     every test passes; each policy file ≥ MIN_COVERAGE %
 *   4. regal lint              when Regal is installed (see regalBinary)
 *   5. opa build -b            the deployable bundles build with their .manifest
 * Exits non-zero on the first failing gate, after printing what failed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireOpa } from './tools.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MIN_COVERAGE = 90;
const TEST_TIMEOUT = '60s';
const POLICY_PATHS = ['opa/policies', 'opa/data'];
// The schemas are mounted as data for contract_test.rego (json.match_schema).
const SCHEMA_DATA = [
  'sark_contract.input:opa/schemas/input.schema.json',
  'sark_contract.a2a_input:opa/schemas/a2a_input.schema.json',
  'sark_contract.decision:opa/schemas/decision.schema.json',
];
export const REGAL_VERSION = process.env.SARK_REGAL_VERSION ?? 'v0.38.1';

interface Coverage {
  files: Record<string, { coverage?: number; not_covered?: { start: { row: number } }[] }>;
  coverage: number;
}

function run(bin: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function fail(gate: string, detail: string): never {
  process.stderr.write(`\n✗ ${gate}\n${detail}\n`);
  process.exit(1);
}

function pass(gate: string, detail = ''): void {
  process.stdout.write(`✓ ${gate}${detail ? ` — ${detail}` : ''}\n`);
}

/** Regal next to OPA in the tools cache (built from the Go module proxy), or SARK_REGAL_BIN. */
export function regalBinary(): string | undefined {
  if (process.env.SARK_REGAL_BIN && existsSync(process.env.SARK_REGAL_BIN)) return process.env.SARK_REGAL_BIN;
  const cache =
    process.env.SARK_TOOLS_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sark', 'bin');
  const cached = join(cache, `regal-${REGAL_VERSION}`, 'regal');
  return existsSync(cached) ? cached : undefined;
}

function main(): void {
  const opa = requireOpa();

  const fmt = run(opa, ['fmt', '--diff', 'opa/policies']);
  if (fmt.status !== 0 || fmt.stdout.trim() !== '') fail('opa fmt --diff', fmt.stdout + fmt.stderr);
  pass('opa fmt --diff', 'no changes');

  const check = run(opa, ['check', '--strict', '--schema', 'opa/schemas', ...POLICY_PATHS]);
  if (check.status !== 0) fail('opa check --strict --schema opa/schemas', check.stdout + check.stderr);
  pass('opa check --strict --schema opa/schemas');

  // The table-driven equivalence tests take ~1-2 s each; on a loaded CI machine
  // OPA's 5 s default per test is too tight (the coverage run is slower still).
  const tests = run(opa, ['test', ...POLICY_PATHS, ...SCHEMA_DATA, '--var-values', '--timeout', TEST_TIMEOUT]);
  if (tests.status !== 0) fail('opa test', tests.stdout + tests.stderr);
  pass('opa test', tests.stdout.trim().split('\n').at(-1) ?? '');

  const cov = run(opa, ['test', ...POLICY_PATHS, ...SCHEMA_DATA, '--coverage', '--timeout', TEST_TIMEOUT]);
  const report = JSON.parse(cov.stdout) as Coverage;
  const low: string[] = [];
  for (const [file, entry] of Object.entries(report.files).sort()) {
    if (file.endsWith('_test.rego')) continue;
    const pct = entry.coverage ?? 0;
    const rows = (entry.not_covered ?? []).map((r) => r.start.row);
    const missing = rows.length ? ` (not covered: lines ${[...new Set(rows)].join(', ')})` : '';
    process.stdout.write(`  ${pct.toFixed(1).padStart(5)} %  ${file}${missing}\n`);
    if (pct < MIN_COVERAGE) low.push(`${file}: ${pct.toFixed(1)} %`);
  }
  if (low.length) fail(`coverage ≥ ${MIN_COVERAGE} % per policy file`, low.join('\n'));
  pass(`coverage ≥ ${MIN_COVERAGE} % per policy file`, `overall ${report.coverage.toFixed(1)} %`);

  const regal = regalBinary();
  if (regal) {
    const lint = run(regal, ['lint', '--format', 'pretty', 'opa/policies']);
    if (lint.status !== 0) fail(`regal lint (${REGAL_VERSION})`, lint.stdout + lint.stderr);
    pass(`regal lint (${REGAL_VERSION})`);
  } else {
    process.stdout.write(
      `- regal lint skipped: no regal-${REGAL_VERSION} in the tools cache (build it from the Go module proxy, or set SARK_REGAL_BIN)\n`,
    );
  }

  const work = mkdtempSync(join(tmpdir(), 'sark-bundle-'));
  try {
    const revision = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const policy = run(opa, [
      'build',
      '-b',
      'opa/policies',
      '--ignore',
      '*_test.rego',
      '--revision',
      revision,
      '-o',
      join(work, 'sark-policy.tar.gz'),
    ]);
    if (policy.status !== 0) fail('opa build -b opa/policies', policy.stderr);
    const data = run(opa, ['build', '-b', 'opa/data', '-o', join(work, 'sark-data.tar.gz')]);
    if (data.status !== 0) fail('opa build -b opa/data', data.stderr);
    pass('opa build -b (sark-policy and sark-data bundles)', `revision ${revision}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
