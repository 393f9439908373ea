/**
 * The figures that count (issue 19): SARK against the bare pass-through in the
 * same run, as ratios, since absolute figures vary with the machine; and each
 * of the targets with its measured value and a verdict.
 */
import type { ThroughputResult } from './run.ts';
import type { TargetName, TargetResult, WorkloadResult } from './workload.ts';
import type { RunResult } from './workload-protocol.ts';

/** The bar for "held": p99 < 50 ms, errors < 0.1 %, answers ≥ 95 % of the rate. */
export const HELD = { p99Ms: 50, errorRate: 0.001, achievedShare: 0.95 } as const;

export function held(r: RunResult): boolean {
  return r.latencyMs.p99 < HELD.p99Ms && r.errorRate < HELD.errorRate && r.achievedRate >= HELD.achievedShare * r.rate;
}

export const SARK_VARIANTS = ['sark', 'sark_ref', 'sark_noaudit', 'sark_clickhouse', 'sark_wasm', 'sark_miss'] as const;

/** Parties whose CPU is the cost of serving the call (the generator is the client's). */
export const SERVING_PARTIES = ['proxy', 'opa', 'upstream', 'clickhouse'] as const;

export function find(w: WorkloadResult, sdk: 'v1' | 'v2', target: TargetName): TargetResult | undefined {
  return w.targets.find((t) => t.sdk === sdk && t.target === target && !t.error);
}

/** The run at `rate`: a fixed-rate run, else a sweep step. */
export function at(t: TargetResult | undefined, rate: number): RunResult | undefined {
  return t?.runs.find((r) => r.rate === rate) ?? t?.sweep?.steps.find((r) => r.rate === rate);
}

const r3 = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? undefined : Math.round(v * 1000) / 1000;
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? undefined : r3(a / b);

export function cpuOf(r: RunResult | undefined, party: string): number | undefined {
  return r3(r?.cpu?.cpuMsPerCall[party]);
}

export function servingCpu(r: RunResult | undefined): number | undefined {
  if (!r?.cpu) return undefined;
  return r3(SERVING_PARTIES.reduce((s, p) => s + (r.cpu!.cpuMsPerCall[p] ?? 0), 0));
}

export interface VariantFigures {
  readonly variant: string;
  /** Proxy process CPU per call at 1000 req/s: SARK, pass-through, ratio. */
  readonly cpuMsPerCallAt1000: { sark?: number; passthrough?: number; ratio?: number };
  /** All serving parties (proxy + OPA + upstream + ClickHouse) per call at 1000 req/s. */
  readonly servingCpuMsPerCallAt1000: { sark?: number; passthrough?: number; ratio?: number };
  /** p50 over direct at 500 req/s, ms. */
  readonly addedP50MsAt500: { sark?: number; passthrough?: number };
  readonly p99MsAt1000: { sark?: number; passthrough?: number; ratio?: number };
  readonly heldRate: { sark?: number; passthrough?: number; ratio?: number };
  readonly idleRssMiB: { sark?: number; passthrough?: number; ratio?: number };
  /** Mean RSS over the 1000 req/s window. */
  readonly loadedRssMiB: { sark?: number; passthrough?: number; ratio?: number };
}

export function variantFigures(w: WorkloadResult, sdk: 'v1' | 'v2', variant: string): VariantFigures | undefined {
  const s = find(w, sdk, variant as TargetName);
  if (!s) return undefined;
  const pt = find(w, sdk, 'passthrough');
  const direct = find(w, sdk, 'direct');
  const pair = (a: number | undefined, b: number | undefined) => ({ sark: a, passthrough: b, ratio: ratio(a, b) });
  const p50Direct = at(direct, 500)?.latencyMs.p50;
  const added = (t: TargetResult | undefined) => {
    const p = at(t, 500)?.latencyMs.p50;
    return p === undefined || p50Direct === undefined ? undefined : r3(p - p50Direct);
  };
  return {
    variant,
    cpuMsPerCallAt1000: pair(cpuOf(at(s, 1000), 'proxy'), cpuOf(at(pt, 1000), 'proxy')),
    servingCpuMsPerCallAt1000: pair(servingCpu(at(s, 1000)), servingCpu(at(pt, 1000))),
    addedP50MsAt500: { sark: added(s), passthrough: added(pt) },
    p99MsAt1000: pair(at(s, 1000)?.latencyMs.p99, at(pt, 1000)?.latencyMs.p99),
    heldRate: pair(s.sweep?.heldRate, pt?.sweep?.heldRate),
    idleRssMiB: pair(s.idleRssMiB.proxy, pt?.idleRssMiB.proxy),
    loadedRssMiB: pair(at(s, 1000)?.rssMiB.proxy?.mean, at(pt, 1000)?.rssMiB.proxy?.mean),
  };
}

export interface MissFigures {
  /** Highest rate held: SARK with every call asking OPA, and OPA loaded directly with the same query. */
  readonly heldRate: { sarkMiss?: number; opaDirect?: number; ratio?: number };
  /** At 500 req/s, CPU ms per call of each party, and the share of calls refused (OPA late: fail closed). */
  readonly at500?: { sarkCpuMsPerCall?: number; opaCpuMsPerCall?: number; refusedShare: number; p99Ms: number };
  /** OPA's own CPU per decision when the generator asks it directly, at the highest rate it held. */
  readonly opaDirectCpuMsPerDecision?: number;
}

export function missFigures(w: WorkloadResult, sdk: 'v1' | 'v2'): MissFigures {
  const miss = find(w, sdk, 'sark_miss');
  const opa = find(w, sdk, 'opa_direct');
  const m500 = at(miss, 500);
  const heldOpa = opa?.sweep?.heldRate;
  return {
    heldRate: { sarkMiss: miss?.sweep?.heldRate, opaDirect: heldOpa, ratio: ratio(miss?.sweep?.heldRate, heldOpa) },
    ...(m500
      ? {
          at500: {
            sarkCpuMsPerCall: cpuOf(m500, 'proxy'),
            opaCpuMsPerCall: cpuOf(m500, 'opa'),
            refusedShare: m500.errorRate,
            p99Ms: m500.latencyMs.p99,
          },
        }
      : {}),
    ...(heldOpa ? { opaDirectCpuMsPerDecision: cpuOf(at(opa, heldOpa), 'opa') } : {}),
  };
}

export interface Verdict {
  readonly target: string;
  readonly measured: string;
  /** undefined: not measured in this run. */
  readonly met: boolean | undefined;
}

const show = (v: number | undefined, unit = '') => (v === undefined ? 'n/a' : `${v}${unit}`);
const check = (ok: boolean | undefined, ...xs: (number | undefined)[]) =>
  xs.some((x) => x === undefined) ? undefined : ok;

export function verdicts(w: WorkloadResult, throughput: ThroughputResult | undefined): Verdict[] {
  const f = variantFigures(w, 'v1', 'sark');
  const miss = missFigures(w, 'v1');
  const out: Verdict[] = [];
  if (f) {
    const c = f.cpuMsPerCallAt1000;
    out.push({
      target: 'SARK CPU per call at 1000 req/s ≤ 1.15 × pass-through (audit to the default file on)',
      measured: `${show(c.sark, ' ms')} vs ${show(c.passthrough, ' ms')} = ${show(c.ratio, ' ×')}`,
      met: check((c.ratio ?? 0) <= 1.15, c.ratio),
    });
    const a = f.addedP50MsAt500.sark;
    out.push({
      target: "SARK's added p50 over direct at 500 req/s ≤ 0.3 ms",
      measured: `${show(a, ' ms')} (pass-through: ${show(f.addedP50MsAt500.passthrough, ' ms')})`,
      met: check((a ?? 1) <= 0.3, a),
    });
    const h = f.heldRate;
    out.push({
      target: 'highest rate held ≥ the pass-through’s',
      measured: `${show(h.sark, ' req/s')} vs ${show(h.passthrough, ' req/s')}`,
      met: check((h.sark ?? 0) >= (h.passthrough ?? 0), h.sark, h.passthrough),
    });
    const p = f.p99MsAt1000;
    out.push({
      target: 'p99 at 1000 req/s ≤ 2 × the pass-through’s',
      measured: `${show(p.sark, ' ms')} vs ${show(p.passthrough, ' ms')} = ${show(p.ratio, ' ×')}`,
      met: check((p.ratio ?? 9) <= 2, p.ratio),
    });
    for (const [what, v] of [
      ['idle', f.idleRssMiB],
      ['at 1000 req/s', f.loadedRssMiB],
    ] as const) {
      out.push({
        target: `RSS ${what} ≤ 1.5 × the pass-through’s`,
        measured: `${show(v.sark, ' MiB')} vs ${show(v.passthrough, ' MiB')} = ${show(v.ratio, ' ×')}`,
        met: check((v.ratio ?? 9) <= 1.5, v.ratio),
      });
    }
  }
  if (miss.heldRate.sarkMiss !== undefined || miss.heldRate.opaDirect !== undefined) {
    out.push({
      target: 'cache-miss path ≥ 0.8 × the decisions/s OPA serves alone',
      measured: `${show(miss.heldRate.sarkMiss, ' req/s')} vs ${show(miss.heldRate.opaDirect, ' req/s')} = ${show(miss.heldRate.ratio, ' ×')}`,
      met: check((miss.heldRate.ratio ?? 0) >= 0.8, miss.heldRate.ratio),
    });
  }
  const sa = throughput?.scenarios.sark_audit_at_rate;
  if (throughput && sa) {
    out.push({
      target: `autocannon: ${throughput.target.reqPerSec} req/s achieved (≥ 99 %) with P95 < 15 ms, audit to ClickHouse, every decision landed`,
      measured: `${sa.reqPerSec} req/s, P95 ${sa.latencyMs.p95} ms, rows ${show(throughput.summary.auditRowsInClickHouse)} of ${show(throughput.summary.auditEventsQueued)} queued`,
      met: throughput.summary.missionRateWithAudit,
    });
  }
  const soak = soakGrowth(w);
  if (soak) {
    out.push({
      target: 'RSS flat over the soak (growth < 5 % after warm-up)',
      measured: `${soak.fromMiB} → ${soak.toMiB} MiB (${soak.growthPct} %)`,
      met: soak.growthPct < 5,
    });
  }
  return out;
}

/**
 * RSS growth over a soak: the mean of the last tenth of the samples against
 * the sample at the end of the warm-up (the first fifth of the soak, at least
 * one sample).
 */
export function soakGrowth(w: WorkloadResult): { fromMiB: number; toMiB: number; growthPct: number } | undefined {
  const samples = w.soak?.samples ?? [];
  if (samples.length < 3) return undefined;
  const rss = samples.map((s) => s.rssMiB.proxy ?? 0);
  const from = rss[Math.max(0, Math.floor(rss.length / 5) - 1)]!;
  const tail = rss.slice(-Math.max(1, Math.floor(rss.length / 10)));
  const to = tail.reduce((a, b) => a + b, 0) / tail.length;
  return { fromMiB: from, toMiB: Math.round(to * 10) / 10, growthPct: Math.round(((to - from) / from) * 1000) / 10 };
}
