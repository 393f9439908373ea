/**
 * `npm run loadtest`: the SDK workload (workload.ts: real MCP SDK servers, an
 * open-loop generator, SARK against the bare pass-through and direct) and
 * the autocannon throughput scenarios (run.ts), in one run; writes
 * loadtest/results/<timestamp>.json, a Markdown report <timestamp>.md and its
 * SVG plots.
 *
 *   npm run loadtest                      the standard set (≈ 8 min, bounded at 10)
 *   npm run loadtest -- --quick           SDK v1 only, short windows, no autocannon (≈ 2 min)
 *   npm run loadtest -- --soak 600        shipped SARK at --rate (1000) req/s for 600 s, RSS over time
 *   npm run loadtest -- --cpu-prof        shipped SARK under `node --cpu-prof` at --rate for --duration,
 *                                         with the top self-time functions in the report
 * Other flags: --targets a,b (subset of direct, passthrough, sark, sark_clickhouse, sark_wasm,
 * sark_miss, opa_direct), --sdks v1,v2, --duration S, --connections N, --no-throughput,
 * --max-other-load C (measure a window again, up to twice, when more than C cores were busy
 * outside the run: the machine is shared), --out-dir DIR, --ref DIR (another checkout's shipped
 * SARK measured beside this one's at the same rates, target sark_ref: before/after in one run,
 * e.g. `git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci)`).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { opaBinary } from '../scripts/tools.ts';
import { ROOT } from './lib.ts';
import { summariseFile } from './profile.ts';
import { buildFigures, type LoadtestReport, writeReport } from './report.ts';
import { runThroughput, THROUGHPUT_SCENARIOS, type ThroughputResult } from './run.ts';
import { runWorkload, type TargetName, type TargetPlan, type WorkloadPlan } from './workload.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    soak: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string' },
    connections: { type: 'string', default: '32' },
    targets: { type: 'string' },
    sdks: { type: 'string' },
    'no-throughput': { type: 'boolean', default: false },
    'max-other-load': { type: 'string' },
    'out-dir': { type: 'string', default: join(ROOT, 'loadtest/results') },
    ref: { type: 'string' },
  },
});

const mode: LoadtestReport['mode'] = values.soak
  ? 'soak'
  : values['cpu-prof']
    ? 'cpu-prof'
    : values.quick
      ? 'quick'
      : 'standard';
const rate = Number(values.rate);
const connections = Number(values.connections);

const FIXED = [200, 500, 1000];
/** --ref DIR: another checkout's shipped SARK, measured after this one's at the same rates (sark_ref). */
const refRoot = values.ref ? resolve(values.ref) : undefined;

/** The plan with sark_ref beside every sark target when --ref is given. */
function withRef(sdks: WorkloadPlan['sdks']): WorkloadPlan['sdks'] {
  if (!refRoot) return sdks;
  return sdks.map((s) => ({
    sdk: s.sdk,
    targets: s.targets.flatMap((t) => (t.target === 'sark' ? [t, { ...t, target: 'sark_ref' as const }] : [t])),
  }));
}
const STANDARD: WorkloadPlan['sdks'] = [
  {
    sdk: 'v1',
    targets: [
      { target: 'direct', rates: FIXED, sweep: true },
      { target: 'passthrough', rates: FIXED, sweep: true },
      { target: 'sark', rates: FIXED, sweep: true },
      // The audit's share of SARK's CPU per call (the report's "what limits it").
      { target: 'sark_noaudit', rates: [1000], sweep: false },
      { target: 'sark_clickhouse', rates: FIXED, sweep: false },
      { target: 'sark_wasm', rates: FIXED, sweep: false },
      { target: 'sark_miss', rates: [500], sweep: true },
      { target: 'opa_direct', rates: [], sweep: true },
    ],
  },
  {
    sdk: 'v2',
    targets: [
      { target: 'direct', rates: [500, 1000], sweep: false },
      { target: 'passthrough', rates: [500, 1000], sweep: false },
      { target: 'sark', rates: [500, 1000], sweep: false },
    ],
  },
];
/** --quick: by default the SDK v1 rows that carry the headline figures; 500 and 1000 req/s; short windows. */
const QUICK_TARGETS: TargetName[] = ['direct', 'passthrough', 'sark', 'sark_ref', 'sark_miss', 'opa_direct'];
const QUICK: WorkloadPlan['sdks'] = STANDARD.map((s) => ({
  sdk: s.sdk,
  targets: s.targets.map((t) => ({
    target: t.target,
    rates: t.rates.filter((r) => r >= 500),
    sweep: t.sweep && t.target !== 'direct',
  })),
}));

function plan(): { plan: WorkloadPlan; deadlineS: number } {
  const base = {
    connections,
    ...(refRoot ? { refRoot } : {}),
    timeoutMs: 10_000,
    ...(values['max-other-load']
      ? { contention: { maxOtherCores: Number(values['max-other-load']), retries: 2, waitMs: 30_000 } }
      : {}),
  };
  const pick = (sdks: WorkloadPlan['sdks']) => {
    const targets =
      (values.targets?.split(',') as TargetName[] | undefined) ?? (mode === 'quick' ? QUICK_TARGETS : undefined);
    const only = values.sdks?.split(',') ?? (mode === 'quick' ? ['v1'] : undefined);
    return withRef(sdks)
      .filter((s) => !only || only.includes(s.sdk))
      .map((s) => ({ sdk: s.sdk, targets: s.targets.filter((t) => !targets || targets.includes(t.target)) }))
      .filter((s) => s.targets.length > 0);
  };
  const sweep = { warmupS: 1, durationS: 4, startRate: 1000, maxRate: 16_000, refine: 1 };
  switch (mode) {
    case 'soak': {
      const soakS = Number(values.soak);
      return {
        plan: {
          ...base,
          sdks: [],
          warmupS: 30,
          durationS: soakS,
          sweep,
          ttlS: soakS + 600,
          soak: { rate, durationS: soakS, sampleEveryS: Math.max(5, Math.round(soakS / 120)) },
        },
        deadlineS: soakS + 600,
      };
    }
    case 'cpu-prof': {
      // The pass-through too: the difference between the two profiles is what SARK adds.
      const prof = (target: 'passthrough' | 'sark'): TargetPlan => ({ target, rates: [rate], sweep: false });
      return {
        plan: {
          ...base,
          sdks: [{ sdk: 'v1', targets: [prof('passthrough'), prof('sark')] }],
          warmupS: 5,
          durationS: Number(values.duration ?? 20),
          sweep,
          ttlS: 900,
        },
        deadlineS: 900,
      };
    }
    case 'quick':
      return {
        plan: {
          ...base,
          sdks: pick(QUICK),
          warmupS: 1,
          durationS: Number(values.duration ?? 4),
          sweep: { ...sweep, durationS: 3, refine: 0 },
          ttlS: 600,
        },
        deadlineS: 600,
      };
    default: {
      // Re-measured windows (--max-other-load) can take up to three times as long.
      const bound = base.contention ? 3600 : 1200;
      return {
        plan: {
          ...base,
          sdks: pick(STANDARD),
          warmupS: 2,
          durationS: Number(values.duration ?? 8),
          sweep,
          ttlS: bound,
        },
        deadlineS: bound,
      };
    }
  }
}

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

function commandOutput(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function versions(): Record<string, string> {
  const opa = opaBinary();
  return {
    node: process.version,
    OPA: (opa && /Version: (\S+)/.exec(commandOutput(opa, ['version']) ?? '')?.[1]) ?? 'unknown',
    '@modelcontextprotocol/sdk': versionOf('@modelcontextprotocol/sdk'),
    '@modelcontextprotocol/server': versionOf('@modelcontextprotocol/server'),
    '@modelcontextprotocol/node': versionOf('@modelcontextprotocol/node'),
    undici: versionOf('undici'),
    autocannon: versionOf('autocannon'),
    // dpkg-query's own format syntax, not a template string.
    ClickHouse: commandOutput('dpkg-query', ['-W', '-f', '$' + '{Version}', 'clickhouse-server']) ?? 'unknown',
    SARK: (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    commit: commandOutput('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']) ?? 'unknown',
    ...(refRoot
      ? { 'sark_ref commit': commandOutput('git', ['-C', refRoot, 'rev-parse', '--short', 'HEAD']) ?? 'unknown' }
      : {}),
  };
}

const stampOf = (d: Date) => d.toISOString().slice(0, 19).replace(/:/g, '-');

async function main(): Promise<void> {
  const { plan: p, deadlineS } = plan();
  // Bounded: whatever happens, the harness (and with it every party) ends by the deadline.
  setTimeout(() => {
    process.stderr.write(`loadtest: deadline of ${deadlineS} s passed, stopping\n`);
    process.exit(2);
  }, deadlineS * 1000).unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

  const started = new Date();
  const t0 = performance.now();
  const loadAverage = [{ atS: 0, load1: loadavg()[0]! }];
  const loadTimer = setInterval(
    () => loadAverage.push({ atS: Math.round((performance.now() - t0) / 1000), load1: loadavg()[0]! }),
    10_000,
  );
  loadTimer.unref();

  let profDir: string | undefined;
  if (mode === 'cpu-prof') {
    profDir = mkdtempSync(join(tmpdir(), 'sark-cpu-prof-'));
    (p as { profileDir?: string }).profileDir = profDir;
  }
  const workload = await runWorkload(p);
  let throughput: ThroughputResult | undefined;
  if (mode === 'standard' && !values['no-throughput']) {
    process.stdout.write('autocannon throughput scenarios…\n');
    throughput = await runThroughput({ durationS: 5, connections: 64, rate: 5000, scenarios: THROUGHPUT_SCENARIOS });
  }
  clearInterval(loadTimer);
  loadAverage.push({ atS: Math.round((performance.now() - t0) / 1000), load1: loadavg()[0]! });

  let profile: LoadtestReport['profile'];
  let profFile: string | undefined;
  if (profDir) {
    // Each profile cut to its own measured window: start-up (module compilation) and shutdown stay out.
    const profiled = (target: string) => {
      const dir = join(profDir!, target);
      const file = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) : undefined;
      const run = workload.targets.find((t) => t.target === target)?.runs[0];
      if (!file || !run) {
        process.stderr.write(`no .cpuprofile of ${target} was written to ${dir}\n`);
        return undefined;
      }
      return {
        path: join(dir, file),
        summary: summariseFile(join(dir, file), 30, run.windowClockUs),
        calls: run.requests,
      };
    };
    const sark = profiled('sark');
    const passthrough = profiled('passthrough');
    if (sark) {
      profFile = sark.path;
      profile = {
        file: `${stampOf(started)}-cpu-prof.cpuprofile`,
        rate,
        summary: sark.summary,
        calls: sark.calls,
        ...(passthrough ? { passthrough: { summary: passthrough.summary, calls: passthrough.calls } } : {}),
      };
    }
  }

  const argv = process.argv.slice(2);
  const doc: LoadtestReport = {
    kind: 'sark-loadtest',
    mode,
    command: `npm run loadtest${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    wallS: Math.round((performance.now() - t0) / 1000),
    machine: {
      cpuModel: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      kernel: release(),
      memGiB: Math.round(totalmem() / 2 ** 30),
      loadAverage,
    },
    versions: versions(),
    plan: p,
    workload,
    ...(throughput ? { throughput } : {}),
    figures: buildFigures(workload, throughput),
    ...(profile ? { profile } : {}),
  };
  mkdirSync(values['out-dir']!, { recursive: true });
  const stamp = stampOf(started);
  const base = join(values['out-dir']!, `${stamp}${mode === 'standard' ? '' : `-${mode}`}`);
  const written = writeReport(doc, base);
  if (profFile) {
    // Kept beside the report for DevTools or speedscope; too large to commit (.gitignore).
    copyFileSync(profFile, `${base}.cpuprofile`);
    written.push(`${base}.cpuprofile`);
  }
  if (profDir) rmSync(profDir, { recursive: true, force: true });
  process.stdout.write(
    `\n${doc.figures.verdicts.map((v) => `${v.met === undefined ? 'n/a' : v.met ? 'met ' : 'NOT '} ${v.target}: ${v.measured}`).join('\n')}\n`,
  );
  process.stdout.write(`written:\n  ${written.join('\n  ')}\n`);
  process.exit(0);
}

await main();
