/**
 * The SDK workload (issue 19): a real MCP SDK server as upstream, a real
 * handshake, one session, an open-loop generator at fixed rates, and a sweep
 * for the highest rate held; the same generator against each target in turn
 * (direct, the bare pass-through, SARK in its variants, OPA alone), with the
 * CPU and memory of every party read from /proc over each measured window.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { type ContentionPlan, measure } from './contention.ts';
import { Generator, generatorSpec } from './generator-client.ts';
import { captureOpaInput } from './opa-input.ts';
import {
  type OpaParty,
  type Party,
  removeDir,
  type SarkParty,
  type SarkVariant,
  sarkFlags,
  startClickHouseParty,
  startMcpUpstream,
  startOpaParty,
  startPassthrough,
  startSarkParty,
} from './parties.ts';
import { rssMiBOf } from './proc.ts';
import { log, sleep, summary } from './progress.ts';
import { type SweepPlan, type SweepStep, sweep } from './sweep.ts';
import type { RunResult, Sample, Workload } from './workload-protocol.ts';

export type TargetName = 'direct' | 'passthrough' | SarkVariant | 'opa_direct';

export interface TargetPlan {
  readonly target: TargetName;
  /** Fixed rates, req/s, each a warm-up and a measured window. */
  readonly rates: readonly number[];
  readonly sweep: boolean;
}

export interface WorkloadPlan {
  readonly sdks: readonly { readonly sdk: 'v1' | 'v2'; readonly targets: readonly TargetPlan[] }[];
  readonly warmupS: number;
  readonly durationS: number;
  readonly sweep: SweepPlan;
  readonly connections: number;
  readonly timeoutMs: number;
  /** Upper bound on every process's life, in s. */
  readonly ttlS: number;
  /** Soak: one long run of shipped SARK at this rate, sampled every sampleEveryS. */
  readonly soak?: { readonly rate: number; readonly durationS: number; readonly sampleEveryS: number };
  /** Measure a window again when other work on the machine was above this (contention.ts). */
  readonly contention?: ContentionPlan;
  /**
   * --cpu-prof: SARK and the bare pass-through run under `node --cpu-prof`,
   * each writing its profile to `<profileDir>/<target>`.
   */
  readonly profileDir?: string;
  /** sark_ref: the other checkout's root (--ref). */
  readonly refRoot?: string;
}

export interface TargetResult {
  readonly target: TargetName;
  readonly sdk: 'v1' | 'v2';
  /** RSS of each party after start-up, before any load, in MiB. */
  readonly idleRssMiB: Record<string, number>;
  readonly runs: RunResult[];
  readonly sweep?: { readonly steps: SweepStep[]; readonly heldRate: number };
  /** SARK variants: the exact `sark serve` flags. */
  readonly flags?: string[];
  /** SARK variants: audit events that reached the sink (file lines or ClickHouse rows)… */
  readonly auditRecords?: number;
  /** …against the messages the generator sent (one decision each). */
  readonly messagesSent?: number;
  readonly error?: string;
}

export interface WorkloadResult {
  readonly targets: TargetResult[];
  /** RSS of a bare `node` process doing nothing, in MiB: the floor of any Node sidecar. */
  readonly bareNodeRssMiB: number;
  readonly opaInput?: unknown;
  readonly soak?: { readonly rate: number; readonly samples: Sample[]; readonly result: RunResult };
}

/** RSS of `node -e` idling: what Node itself costs before any code. */
async function bareNodeRss(): Promise<number> {
  const proc = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)'], { stdio: 'ignore' });
  await sleep(1500);
  const rss = rssMiBOf([proc.pid!]);
  proc.kill();
  return Math.round(rss * 10) / 10;
}

async function countLines(path: string): Promise<number> {
  let n = 0;
  try {
    for await (const chunk of createReadStream(path)) for (const b of chunk as Buffer) if (b === 10) n++;
  } catch {
    return 0;
  }
  return n;
}

interface Shared {
  readonly opa: OpaParty;
  opaInput?: unknown;
}

async function measureTarget(
  sdk: 'v1' | 'v2',
  tp: TargetPlan,
  upstream: Party,
  shared: Shared,
  plan: WorkloadPlan,
): Promise<TargetResult> {
  const parties: Party[] = [];
  let sark: SarkParty | undefined;
  let clickhouse: Party | undefined;
  let gen: Generator | undefined;
  const base = { target: tp.target, sdk, idleRssMiB: {}, runs: [] as RunResult[] };
  try {
    let url = upstream.url;
    let workload: Workload = sdk === 'v1' ? 'mcp-v1' : 'mcp-v2';
    let flags: string[] | undefined;
    const watch: Record<string, number[]> = { upstream: upstream.pids };
    if (tp.target !== 'direct' && tp.target !== 'passthrough' && tp.target !== 'sark_wasm') watch.opa = shared.opa.pids;
    if (tp.target === 'passthrough') {
      const pt = await startPassthrough(upstream.url, plan.ttlS, profileArgs(plan, tp.target));
      parties.push(pt);
      url = pt.url;
      watch.proxy = pt.pids;
    } else if (tp.target === 'opa_direct') {
      shared.opaInput ??= await captureOpaInput(upstream.url, shared.opa, plan);
      url = `${shared.opa.url}/v1/data/sark/gateway/decision`;
      workload = 'opa';
      delete watch.upstream;
    } else if (tp.target !== 'direct') {
      if (tp.target === 'sark_clickhouse') {
        clickhouse = await startClickHouseParty();
        parties.push(clickhouse);
        watch.clickhouse = clickhouse.pids;
      }
      const options = {
        variant: tp.target,
        upstreamUrl: upstream.url,
        opaUrl: shared.opa.url,
        ttlS: plan.ttlS,
        ...(clickhouse ? { clickhouseUrl: clickhouse.url } : {}),
        ...(plan.profileDir ? { nodeArgs: profileArgs(plan, tp.target) } : {}),
        ...(plan.refRoot ? { refRoot: plan.refRoot } : {}),
      };
      sark = await startSarkParty(options);
      parties.push(sark);
      url = sark.url;
      watch.proxy = sark.pids;
      flags = sarkFlags(options, sark.dir, Number(new URL(sark.adminUrl).port));
    }
    await sleep(2000); // start-up work (JIT of the first modules, timers) settles before the idle reading
    const idleRssMiB: Record<string, number> = {};
    for (const [name, pids] of Object.entries(watch)) idleRssMiB[name] = Math.round(rssMiBOf(pids) * 10) / 10;
    gen = await Generator.start(generatorSpec(url, workload, plan, shared.opaInput), plan.ttlS);
    watch.generator = [gen.pid];
    log(`${sdk} ${tp.target}: idle RSS ${JSON.stringify(idleRssMiB)} MiB`);
    const runs: RunResult[] = [];
    for (const rate of tp.rates) {
      const r = await measure(gen, { rate, warmupS: plan.warmupS, durationS: plan.durationS, watch }, plan.contention);
      runs.push(r);
      log(`  ${summary(r)}`);
    }
    const sw = tp.sweep ? await sweep(gen, watch, plan.sweep, runs, plan.contention) : undefined;
    const last = sw?.steps.at(-1) ?? runs.at(-1);
    await gen.stop();
    gen = undefined;
    let auditRecords: number | undefined;
    if (sark) {
      await sark.stop(); // SIGTERM: the audit queue is flushed before exit
      if (tp.target === 'sark_clickhouse' && clickhouse) {
        const q = encodeURIComponent('SELECT count() FROM sark.audit_events');
        auditRecords = Number((await (await fetch(`${clickhouse.url}/?query=${q}`)).text()).trim());
      } else if (tp.target !== 'sark_noaudit') {
        auditRecords = await countLines(join(sark.dir, 'sark-audit.ndjson'));
      }
    }
    return {
      ...base,
      idleRssMiB,
      runs,
      ...(sw ? { sweep: sw } : {}),
      ...(flags ? { flags } : {}),
      ...(auditRecords !== undefined ? { auditRecords, messagesSent: last?.messagesSent ?? 0 } : {}),
    };
  } catch (err) {
    log(`${sdk} ${tp.target}: FAILED ${(err as Error).message}`);
    return { ...base, error: (err as Error).message };
  } finally {
    await gen?.stop();
    for (const p of parties.reverse()) await p.stop().catch(() => {});
    if (sark) removeDir(sark.dir);
  }
}

/** `node --cpu-prof` into the target's own directory under plan.profileDir; none without it. */
export function profileArgs(plan: WorkloadPlan, target: TargetName): string[] {
  return plan.profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(plan.profileDir, target)] : [];
}

export async function runWorkload(plan: WorkloadPlan): Promise<WorkloadResult> {
  const bareNodeRssMiB = await bareNodeRss();
  const opa = await startOpaParty();
  const shared: Shared = { opa };
  const targets: TargetResult[] = [];
  let soak: WorkloadResult['soak'];
  try {
    for (const { sdk, targets: plans } of plan.sdks) {
      for (const tp of plans) {
        // A fresh upstream per target: the SDK server's heap grows with the calls it has served
        // (v1: 110 → 580 MiB over one run), and a target measured later must not pay its GC.
        const upstream = await startMcpUpstream(sdk, plan.ttlS);
        try {
          targets.push(await measureTarget(sdk, tp, upstream, shared, plan));
        } finally {
          await upstream.stop();
        }
      }
    }
    if (plan.soak) soak = await runSoak(plan, opa);
  } finally {
    await opa.stop();
  }
  return {
    targets,
    bareNodeRssMiB,
    ...(shared.opaInput ? { opaInput: shared.opaInput } : {}),
    ...(soak ? { soak } : {}),
  };
}

/** Shipped SARK on the SDK v1 workload for a long window, RSS and latency sampled as it goes. */
async function runSoak(plan: WorkloadPlan, opa: OpaParty): Promise<WorkloadResult['soak']> {
  const s = plan.soak!;
  const upstream = await startMcpUpstream('v1', plan.ttlS);
  const sark = await startSarkParty({ variant: 'sark', upstreamUrl: upstream.url, opaUrl: opa.url, ttlS: plan.ttlS });
  try {
    const gen = await Generator.start(generatorSpec(sark.url, 'mcp-v1', plan), plan.ttlS);
    const watch = { proxy: sark.pids, opa: opa.pids, upstream: upstream.pids, generator: [gen.pid] };
    log(`soak: SARK at ${s.rate} req/s for ${s.durationS} s`);
    const result = await gen.run(
      { rate: s.rate, warmupS: plan.warmupS, durationS: s.durationS, watch, sampleEveryS: s.sampleEveryS },
      (x) =>
        log(
          `  ${x.atS} s: SARK RSS ${x.rssMiB.proxy} MiB, p50 ${x.latencyMs.p50} p99 ${x.latencyMs.p99} ms, errors ${x.errors}`,
        ),
    );
    await gen.stop();
    log(`soak: ${summary(result)}`);
    return { rate: s.rate, samples: result.samples, result };
  } finally {
    await sark.stop();
    removeDir(sark.dir);
    await upstream.stop();
  }
}
