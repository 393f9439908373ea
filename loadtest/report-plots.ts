/** The report's plots: latency against rate per target, CPU per call by process, RSS over a soak. */
import { at, HELD } from './figures.ts';
import { lineChart, PALETTE, stackedBars } from './svg.ts';
import type { TargetName, WorkloadResult } from './workload.ts';

export const TARGET_LABEL: Record<TargetName, string> = {
  direct: 'direct',
  passthrough: 'bare pass-through',
  sark: 'SARK (shipped)',
  sark_clickhouse: 'SARK, audit to ClickHouse',
  sark_wasm: 'SARK, embedded WASM',
  sark_miss: 'SARK, cache off (miss path)',
  sark_noaudit: 'SARK, audit off',
  sark_ref: 'SARK (shipped) of --ref',
  opa_direct: 'OPA alone',
};
/** Labels short enough for a plot legend. */
const SHORT_LABEL: Record<TargetName, string> = {
  direct: 'direct',
  passthrough: 'pass-through',
  sark: 'SARK',
  sark_clickhouse: 'SARK ClickHouse',
  sark_wasm: 'SARK WASM',
  sark_miss: 'SARK miss path',
  sark_noaudit: 'SARK no audit',
  sark_ref: 'SARK --ref',
  opa_direct: 'OPA alone',
};
const PARTY_COLORS = [
  { name: 'proxy', color: '#1f77b4' },
  { name: 'opa', color: '#ff7f0e' },
  { name: 'upstream', color: '#2ca02c' },
  { name: 'clickhouse', color: '#9467bd' },
  { name: 'generator', color: '#bbbbbb' },
];

export function latencySvg(w: WorkloadResult, sdk: 'v1' | 'v2'): string | undefined {
  const targets = w.targets.filter((t) => t.sdk === sdk && !t.error);
  if (targets.length === 0) return undefined;
  const series = targets.flatMap((t, i) => {
    // One point per rate: a fixed-rate run wins over a sweep step at the same rate.
    const runs = [...t.runs, ...(t.sweep?.steps ?? []).filter((s) => !t.runs.some((r) => r.rate === s.rate))];
    const color = PALETTE[i % PALETTE.length]!;
    return [
      { name: `${SHORT_LABEL[t.target]} p50`, color, points: runs.map((r) => [r.rate, r.latencyMs.p50] as const) },
      {
        name: `${SHORT_LABEL[t.target]} p99`,
        color,
        dashed: true,
        points: runs.map((r) => [r.rate, r.latencyMs.p99] as const),
      },
    ];
  });
  return lineChart({
    title: `SDK ${sdk} workload: latency from the scheduled send (p50 solid, p99 dashed)`,
    xLabel: 'offered rate, req/s',
    yLabel: 'latency, ms (log)',
    logX: true,
    logY: true,
    series,
    marks: [{ y: HELD.p99Ms, label: `${HELD.p99Ms} ms: the bar for "held"` }],
  });
}

export function cpuSvg(w: WorkloadResult): string | undefined {
  const bars = w.targets
    .filter((t) => !t.error && at(t, 1000)?.cpu)
    .map((t) => ({ label: `${t.sdk} ${SHORT_LABEL[t.target]}`, values: at(t, 1000)!.cpu!.cpuMsPerCall }));
  if (bars.length === 0) return undefined;
  return stackedBars({
    title: 'CPU per call at 1000 req/s, by process',
    unit: 'CPU ms per call',
    parts: PARTY_COLORS,
    bars,
  });
}

export function soakSvg(w: WorkloadResult): string | undefined {
  const samples = w.soak?.samples ?? [];
  if (samples.length === 0) return undefined;
  return lineChart({
    title: `Soak at ${w.soak!.rate} req/s: RSS over time`,
    xLabel: 'seconds into the measured window',
    yLabel: 'RSS, MiB',
    series: [
      { name: 'SARK', color: PALETTE[0]!, points: samples.map((s) => [s.atS, s.rssMiB.proxy ?? 0] as const) },
      { name: 'upstream', color: PALETTE[2]!, points: samples.map((s) => [s.atS, s.rssMiB.upstream ?? 0] as const) },
    ],
  });
}
