/**
 * The load-test report: the result document as JSON, and a Markdown report
 * beside it with the plots (SVG, made by svg.ts), the figures that count, the
 * machine, the versions and the exact commands.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { OPA_GOGC_DEFAULT } from '../src/inject/options.ts';
import {
  at,
  cpuOf,
  HELD,
  type MissFigures,
  missFigures,
  SARK_VARIANTS,
  soakGrowth,
  type VariantFigures,
  type Verdict,
  variantFigures,
  verdicts,
} from './figures.ts';
import { limitsMarkdown } from './limits.ts';
import { comparisonMarkdown, type ProfileSummary, profileMarkdown } from './profile.ts';
import { cpuSvg, latencySvg, soakSvg, TARGET_LABEL } from './report-plots.ts';
import type { ThroughputResult } from './run.ts';
import type { TargetName, WorkloadPlan, WorkloadResult } from './workload.ts';

export interface LoadtestReport {
  readonly kind: 'sark-loadtest';
  readonly mode: 'standard' | 'quick' | 'soak' | 'cpu-prof';
  readonly command: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly wallS: number;
  readonly machine: {
    readonly cpuModel: string;
    readonly cores: number;
    readonly kernel: string;
    readonly memGiB: number;
    /** 1-minute load average at the start, every 10 s during the run, and at the end. */
    readonly loadAverage: { readonly atS: number; readonly load1: number }[];
  };
  readonly versions: Record<string, string>;
  readonly plan: WorkloadPlan;
  readonly workload: WorkloadResult;
  readonly throughput?: ThroughputResult;
  readonly figures: {
    readonly v1: VariantFigures[];
    readonly v2: VariantFigures[];
    readonly missPath: MissFigures;
    readonly verdicts: Verdict[];
  };
  readonly profile?: {
    readonly file: string;
    readonly rate: number;
    readonly summary: ProfileSummary;
    /** Calls scheduled in SARK's profiled window. */
    readonly calls?: number;
    /** The bare pass-through profiled the same way, at the same rate. */
    readonly passthrough?: { readonly summary: ProfileSummary; readonly calls: number };
  };
}

export function buildFigures(w: WorkloadResult, t: ThroughputResult | undefined): LoadtestReport['figures'] {
  const of = (sdk: 'v1' | 'v2') =>
    SARK_VARIANTS.map((v) => variantFigures(w, sdk, v)).filter((f): f is VariantFigures => f !== undefined);
  return { v1: of('v1'), v2: of('v2'), missPath: missFigures(w, 'v1'), verdicts: verdicts(w, t) };
}

const n = (v: number | undefined, digits = 3) =>
  v === undefined || !Number.isFinite(v) ? '–' : String(Number(v.toFixed(digits)));

function runTable(doc: LoadtestReport, sdk: 'v1' | 'v2'): string[] {
  const rows: string[] = [];
  for (const t of doc.workload.targets.filter((x) => x.sdk === sdk)) {
    if (t.error) {
      rows.push(`| ${TARGET_LABEL[t.target]} | failed: ${t.error.split('\n')[0]} |||||||||||`);
      continue;
    }
    const runs = [...t.runs, ...(t.sweep?.steps ?? []).filter((s) => !t.runs.some((r) => r.rate === s.rate))];
    for (const r of runs.sort((a, b) => a.rate - b.rate)) {
      const c = r.cpu?.cpuMsPerCall ?? {};
      rows.push(
        `| ${TARGET_LABEL[t.target]} | ${r.rate} | ${r.achievedRate} | ${r.latencyMs.p50} | ${r.latencyMs.p90} | ${r.latencyMs.p99} | ${r.latencyMs.p999} | ${r.latencyMs.max} | ${r.errors ? `${r.errors} (${Object.keys(r.errorKinds).join(', ')})` : 0} | ${n(c.proxy)} | ${n(c.opa)} | ${n(c.upstream)} | ${n(c.clickhouse)} | ${n(c.generator)} | ${n(r.rssMiB.proxy?.mean, 1)} | ${n(r.cpu?.otherBusyCores, 2)}${(r.attempts ?? 1) > 1 ? ` (best of ${r.attempts})` : ''} |`,
      );
    }
  }
  return [
    '| target | rate | achieved | p50 | p90 | p99 | p99.9 | max | errors | CPU ms/call proxy | OPA | upstream | ClickHouse | generator | proxy RSS MiB | other load, cores |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ];
}

function ratioTable(fs: VariantFigures[]): string[] {
  const cell = (x: { sark?: number; passthrough?: number; ratio?: number }) =>
    `${n(x.sark)} / ${n(x.passthrough)} = **${n(x.ratio, 2)}×**`;
  return [
    '| SARK variant | CPU ms/call at 1000 (proxy) | all serving parties | added p50 at 500, ms (pass-through) | p99 at 1000, ms | highest rate held | RSS idle, MiB | RSS at 1000, MiB |',
    '|---|---|---|---|---|---|---|---|',
    ...fs.map(
      (f) =>
        `| ${TARGET_LABEL[f.variant as TargetName]} | ${cell(f.cpuMsPerCallAt1000)} | ${cell(f.servingCpuMsPerCallAt1000)} | ${n(f.addedP50MsAt500.sark)} (${n(f.addedP50MsAt500.passthrough)}) | ${cell(f.p99MsAt1000)} | ${cell(f.heldRate)} | ${cell(f.idleRssMiB)} | ${cell(f.loadedRssMiB)} |`,
    ),
  ];
}

function loadSummary(doc: LoadtestReport): string {
  const l = doc.machine.loadAverage.map((s) => s.load1);
  const others = doc.workload.targets.flatMap((t) =>
    [...t.runs, ...(t.sweep?.steps ?? [])].map((r) => r.cpu?.otherBusyCores ?? 0),
  );
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
  const bar = doc.plan.contention?.maxOtherCores;
  const retried =
    bar === undefined
      ? ''
      : ` Windows above ${bar} cores of other load were measured again (up to ${doc.plan.contention!.retries} times, the least contended kept); ${others.filter((o) => o > bar).length} of ${others.length} kept windows remain above it.`;
  return (
    `1-minute load average: ${n(l[0], 2)} at the start, ${n(Math.min(...l), 2)}–${n(Math.max(...l), 2)} during the run ` +
    `(mean ${n(mean(l), 2)}), ${n(l.at(-1), 2)} at the end. CPU busy outside this run's processes, per measured window: ` +
    `mean ${n(mean(others), 2)}, max ${n(Math.max(0, ...others), 2)} cores of ${doc.machine.cores}.${retried}`
  );
}

export function writeReport(doc: LoadtestReport, base: string): string[] {
  const written: string[] = [];
  const write = (suffix: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    writeFileSync(`${base}${suffix}`, text);
    written.push(`${base}${suffix}`);
    return basename(`${base}${suffix}`);
  };
  write('.json', `${JSON.stringify(doc, null, 2)}\n`);
  const plots = {
    v1: write('-latency-v1.svg', latencySvg(doc.workload, 'v1')),
    v2: write('-latency-v2.svg', latencySvg(doc.workload, 'v2')),
    cpu: write('-cpu.svg', cpuSvg(doc.workload)),
    soak: write('-soak.svg', soakSvg(doc.workload)),
  };
  const w = doc.workload;
  const md: string[] = [
    `# SARK load test, ${doc.startedAt.slice(0, 16).replace('T', ' ')} UTC (${doc.mode})`,
    '',
    `Command: \`${doc.command}\` (${Math.round(doc.wallS)} s). Result document: [${basename(base)}.json](${basename(base)}.json).`,
    '',
    `Machine: ${doc.machine.cpuModel}, ${doc.machine.cores} cores, Linux ${doc.machine.kernel}, ${doc.machine.memGiB} GiB. ` +
      `Shared: ${loadSummary(doc)}`,
    '',
    `Versions: ${Object.entries(doc.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
    'Ratios to the bare pass-through in the same run are the figures that count; absolute figures vary with the machine and its other load.',
    '',
  ];
  if (doc.figures.verdicts.length > 0) {
    md.push(
      '## Issue 19 targets',
      '',
      '| target | measured | met |',
      '|---|---|---|',
      ...doc.figures.verdicts.map(
        (v) => `| ${v.target} | ${v.measured} | ${v.met === undefined ? 'n/a' : v.met ? 'yes' : '**no**'} |`,
      ),
      '',
      ...limitsMarkdown(w, doc.throughput, doc.machine.cores),
    );
  }
  for (const sdk of ['v1', 'v2'] as const) {
    const fs = doc.figures[sdk];
    if (fs.length === 0) continue;
    md.push(
      `## SARK against the bare pass-through, SDK ${sdk} workload (SARK / pass-through = ratio)`,
      '',
      ...ratioTable(fs),
      '',
    );
  }
  const m = doc.figures.missPath;
  if (m.heldRate.sarkMiss !== undefined || m.heldRate.opaDirect !== undefined) {
    md.push(
      '## Cache-miss path (every call asks OPA)',
      '',
      `- Highest rate held: SARK with the decision cache off ${n(m.heldRate.sarkMiss)} req/s; OPA alone, asked the same query by the generator, ${n(m.heldRate.opaDirect)} decisions/s; ratio **${n(m.heldRate.ratio, 2)}** (target ≥ 0.8).`,
      ...(m.at500
        ? [
            `- At 500 req/s: SARK ${n(m.at500.sarkCpuMsPerCall)} ms and OPA ${n(m.at500.opaCpuMsPerCall)} ms of CPU per call; ${n(m.at500.refusedShare * 100, 2)} % of calls refused (fail-closed on a late or failed decision); p99 ${m.at500.p99Ms} ms.`,
          ]
        : []),
      ...(m.opaDirectCpuMsPerDecision !== undefined
        ? [`- OPA alone: ${n(m.opaDirectCpuMsPerDecision)} ms of OPA CPU per decision at its highest rate held.`]
        : []),
      '',
    );
  }
  md.push('## Plots', '');
  if (plots.v1) md.push(`![latency against rate, SDK v1](${plots.v1})`, '');
  if (plots.v2) md.push(`![latency against rate, SDK v2](${plots.v2})`, '');
  if (plots.cpu) md.push(`![CPU per call at 1000 req/s](${plots.cpu})`, '');
  if (plots.soak) md.push(`![RSS over the soak](${plots.soak})`, '');
  for (const sdk of ['v1', 'v2'] as const) {
    if (!w.targets.some((t) => t.sdk === sdk)) continue;
    md.push(
      `## Every run, SDK ${sdk} workload`,
      '',
      'Latencies in ms from each request’s scheduled send; achieved = successful answers per second within the window; CPU from /proc over the measured window; "other load" is machine busy time not spent by this run’s processes.',
      '',
      ...runTable(doc, sdk),
      '',
    );
  }
  const sweeps = w.targets.filter((t) => t.sweep);
  if (sweeps.length > 0) {
    md.push(
      '## Sweeps',
      '',
      `Held = p99 < ${HELD.p99Ms} ms, errors < ${HELD.errorRate * 100} %, achieved ≥ ${HELD.achievedShare * 100} % of the rate. The sweep doubles from the best fixed rate held, then bisects ${doc.plan.sweep.refine} times between the last rate held and the first missed.`,
      '',
      '| target | steps (rate: held?) | highest rate held |',
      '|---|---|---:|',
      ...sweeps.map(
        (t) =>
          `| ${t.sdk} ${TARGET_LABEL[t.target]} | ${t.sweep!.steps.map((s) => `${s.rate}: ${s.held ? 'yes' : `no (p99 ${s.latencyMs.p99} ms, ${s.achievedRate} achieved, ${s.errors} errors)`}`).join('; ')} | ${t.sweep!.heldRate || `none ≥ ${Math.min(...t.sweep!.steps.map((x) => x.rate))}`} |`,
      ),
      '',
    );
  }
  md.push(
    '## Memory',
    '',
    `A bare \`node\` process idles at ${w.bareNodeRssMiB} MiB here.`,
    '',
    '| target | idle RSS, MiB (proxy / upstream / OPA) | mean RSS at 1000 req/s | max |',
    '|---|---|---:|---:|',
    ...w.targets
      .filter((t) => !t.error)
      .map((t) => {
        const r = at(t, 1000);
        return `| ${t.sdk} ${TARGET_LABEL[t.target]} | ${n(t.idleRssMiB.proxy, 1)} / ${n(t.idleRssMiB.upstream, 1)} / ${n(t.idleRssMiB.opa, 1)} | ${n(r?.rssMiB.proxy?.mean, 1)} | ${n(r?.rssMiB.proxy?.max, 1)} |`;
      }),
    '',
  );
  const audited = w.targets.filter((t) => t.auditRecords !== undefined);
  if (audited.length > 0) {
    md.push(
      '## Audit',
      '',
      'Records that reached the sink after SARK’s SIGTERM flush (lines of the default file `sark-audit.ndjson`, or ClickHouse rows), against the messages the generator sent (one decision each, handshake and warm-ups included).',
      '',
      '| target | records | messages |',
      '|---|---:|---:|',
      ...audited.map((t) => `| ${t.sdk} ${TARGET_LABEL[t.target]} | ${t.auditRecords} | ${t.messagesSent} |`),
      '',
    );
  }
  const growth = soakGrowth(w);
  if (w.soak) {
    const r = w.soak.result;
    md.push(
      '## Soak',
      '',
      `Shipped SARK at ${w.soak.rate} req/s for ${r.durationS} s: p50 ${r.latencyMs.p50}, p99 ${r.latencyMs.p99}, p99.9 ${r.latencyMs.p999}, max ${r.latencyMs.max} ms; ${r.errors} errors; SARK ${n(cpuOf(r, 'proxy'))} ms CPU per call.` +
        (growth
          ? ` RSS ${growth.fromMiB} MiB after warm-up → ${growth.toMiB} MiB at the end (${growth.growthPct} %).`
          : ''),
      '',
    );
  }
  if (doc.profile) {
    md.push(
      `## CPU profile of SARK at ${doc.profile.rate} req/s (SDK v1 workload, shipped configuration)`,
      '',
      `\`node --cpu-prof\`; the profile is ${doc.profile.file} beside this report (not committed: open it in Chrome DevTools or speedscope).`,
      '',
      profileMarkdown(doc.profile.summary),
    );
    const pt = doc.profile.passthrough;
    if (pt && doc.profile.calls) {
      md.push(
        `## Where SARK's extra CPU goes: its profile against the bare pass-through's, at ${doc.profile.rate} req/s`,
        '',
        'Both proxies ran under `node --cpu-prof` in the same run; each profile is cut to its measured window and divided by the calls scheduled in it.',
        '',
        comparisonMarkdown(
          { label: 'SARK', summary: doc.profile.summary, calls: doc.profile.calls },
          { label: 'pass-through', summary: pt.summary, calls: pt.calls },
        ),
      );
    }
  }
  if (doc.throughput) {
    const t = doc.throughput;
    md.push(
      '## Throughput scenarios (autocannon, lean upstream)',
      '',
      `\`${t.command}\`; closed loop at ${t.scenarios.direct_max ? 'the given connections' : '–'} for the maximum, open loop at ${t.target.reqPerSec} req/s.`,
      '',
      '| scenario | max req/s | at rate: achieved, p50 / p95 / p99 ms | errors + non-2xx |',
      '|---|---:|---|---:|',
      ...Object.keys(t.scenarios)
        .filter((k) => k.endsWith('_max'))
        .map((k) => {
          const name = k.slice(0, -4);
          const mx = t.scenarios[k]!;
          const ar = t.scenarios[`${name}_at_rate`];
          return `| ${name} | ${mx.reqPerSec} | ${ar ? `${ar.reqPerSec}, ${ar.latencyMs.p50} / ${ar.latencyMs.p95} / ${ar.latencyMs.p99}` : '–'} | ${ar ? ar.errors + ar.non2xx : '–'} |`;
        }),
      '',
      `Audit to ClickHouse: ${t.summary.auditRowsInClickHouse ?? '–'} rows landed of ${t.summary.auditEventsQueued ?? '–'} events queued.`,
      '',
    );
  }
  md.push('## How it was run', '', ...howItWasRun(doc), '');
  write('.md', `${md.join('\n')}\n`);
  return written;
}

function howItWasRun(doc: LoadtestReport): string[] {
  const p = doc.plan;
  const lines = [
    `- \`${doc.command}\`. Every party is its own process on loopback: the SDK upstream (\`node loadtest/mcp-upstream.ts --sdk v1|v2\`), the bare pass-through (\`node loadtest/.build/passthrough.mjs\`, loadtest/passthrough.ts with its types stripped), SARK as the image runs it (compiled by \`tsc -p tsconfig.build.json\`: \`node dist/cli/main.js serve …\` under \`timeout\`; with --ref, the other checkout compiled the same way; no process pays Node's TypeScript stripper, ≈ 17 MiB of RSS, working directory a fresh temporary directory so the default audit file \`./sark-audit.ndjson\` lands there), OPA (\`GOGC=${OPA_GOGC_DEFAULT} opa run --server --optimize-store-for-read-speed\`, as the webhook injects it, with opa/policies, opa/data/data.json, loadtest/fixtures/data-overlay.json and the gateway index compiled for them), ClickHouse 18.16 (audit variant only), and the generator (\`node loadtest/generator.ts\`).`,
    `- Generator: one MCP session (v1: \`initialize\` + \`notifications/initialized\`; v2: \`server/discover\`, then 2026-07-28 requests), then \`tools/call echo\` open-loop at each rate over an undici pool of ${p.connections} keep-alive connections; ${p.warmupS} s warm-up and ${p.durationS} s measured per fixed rate, ${p.sweep.warmupS} s + ${p.sweep.durationS} s per sweep step; request timeout ${p.timeoutMs} ms.`,
    '- Latency counts from each request’s scheduled send time (no coordinated omission), into an HdrHistogram (hdr-histogram-js, 3 significant digits). An answer counts as successful when it is HTTP 200 with a JSON-RPC result that is not `isError` (OPA alone: HTTP 200 with `"allow":true`).',
    '- CPU: utime + stime of each party’s process tree from /proc/<pid>/stat at the first and last scheduled send of the window, divided by the requests scheduled in it. RSS: VmRSS from /proc/<pid>/status, idle 2 s after start-up before any load, and every second of each window.',
    '- OPA alone: the generator POSTs `{"input": …}` to `/v1/data/sark/gateway/decision` with the input SARK itself sent for the same call (captured by a recording proxy in front of OPA before the run).',
  ];
  const flags = doc.workload.targets.filter((t) => t.flags);
  if (flags.length > 0) {
    lines.push('- SARK flags per variant (temporary paths and ports vary):');
    for (const t of flags) lines.push(`  - ${t.sdk} ${t.target}: \`sark ${t.flags!.join(' ')}\``);
  }
  return lines;
}
