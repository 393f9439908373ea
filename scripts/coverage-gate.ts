/**
 * The coverage gate (npm test, after vitest run --coverage): line coverage
 * per folder of src/, printed for every folder, and at least MIN_LINES % for
 * each stage of the request path and the shared kernel. Exits non-zero when a
 * gated folder is below it.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MIN_LINES = 85;
/** The request path's stages and the kernel they share; cli (argument parsing, run as child processes) and inject are reported, not gated. */
export const GATED = ['listen', 'mcp', 'identity', 'decide', 'forward', 'record', 'pipeline', 'observe', 'config'];

interface Totals {
  lines: { total: number; covered: number };
}

const summary = JSON.parse(readFileSync(`${ROOT}.tmp/coverage/coverage-summary.json`, 'utf8')) as Record<
  string,
  Totals
>;
const folders = new Map<string, { total: number; covered: number }>();
for (const [file, t] of Object.entries(summary)) {
  if (file === 'total') continue;
  const rel = relative(`${ROOT}src`, file).split('/');
  const folder = rel.length > 1 ? rel[0]! : '(top level)';
  const f = folders.get(folder) ?? { total: 0, covered: 0 };
  f.total += t.lines.total;
  f.covered += t.lines.covered;
  folders.set(folder, f);
}
const low: string[] = [];
process.stdout.write(`line coverage by folder of src/ (gate: ${MIN_LINES} % for ${GATED.join(', ')})\n`);
for (const [folder, f] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
  const pct = f.total === 0 ? 100 : (100 * f.covered) / f.total;
  const gated = GATED.includes(folder);
  process.stdout.write(
    `  ${pct.toFixed(1).padStart(5)} %  ${folder.padEnd(12)} ${String(f.covered).padStart(6)}/${f.total} lines${gated ? '' : '  (not gated)'}\n`,
  );
  if (gated && pct < MIN_LINES) low.push(`${folder}: ${pct.toFixed(1)} %`);
}
const total = summary.total!.lines;
process.stdout.write(`  ${((100 * total.covered) / total.total).toFixed(1).padStart(5)} %  all of src/\n`);
for (const folder of GATED) if (!folders.has(folder)) low.push(`${folder}: no coverage data`);
if (low.length) {
  process.stderr.write(`\n✗ coverage below ${MIN_LINES} %:\n  ${low.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(`✓ every gated folder ≥ ${MIN_LINES} % of lines\n`);
