/**
 * "What limits it": for each issue 19 target a run may miss, the arithmetic
 * from the same run's measurements that bounds what SARK could reach on this
 * machine — the audit's share of CPU per call (the audit-off variant), how
 * busy the shared cores are with each proxy (the tail, the highest rate
 * held), the CPU ceiling of the miss path with every party on the same
 * cores, the latency a bare Node hop adds, and the cores a rate needs at the
 * measured CPU per call.
 */
import { at, cpuOf, find, servingCpu } from './figures.ts';
import type { ThroughputResult } from './run.ts';
import type { WorkloadResult } from './workload.ts';
import type { RunResult } from './workload-protocol.ts';

const f = (v: number, digits = 3) => String(Number(v.toFixed(digits)));
const pct = (part: number, whole: number) => `${Math.round((part / whole) * 100)} %`;
const sum = (r: RunResult | undefined, parties: readonly string[]) =>
  parties.reduce((s, p) => s + (r?.cpu?.cpuMsPerCall[p] ?? Number.NaN), 0);

/** The section's lines, or none when the run measured too little for any of it. */
export function limitsMarkdown(w: WorkloadResult, throughput: ThroughputResult | undefined, cores: number): string[] {
  const out: string[] = [];
  const sark = cpuOf(at(find(w, 'v1', 'sark'), 1000), 'proxy');
  const noAudit = cpuOf(at(find(w, 'v1', 'sark_noaudit'), 1000), 'proxy');
  const pt = cpuOf(at(find(w, 'v1', 'passthrough'), 1000), 'proxy');

  if (sark !== undefined && pt !== undefined) {
    const extra = sark - pt;
    out.push(
      '### CPU per call',
      '',
      `- At 1000 req/s SARK spent ${f(sark)} ms of CPU per call and the bare pass-through ${f(pt)} ms: ${f(extra)} ms more. The 1.15 × target leaves SARK ${f(pt * 0.15)} ms per call for everything the pass-through does not do. (Between runs on these shared cores, one process's CPU per call moves by a few hundredths of a ms.)`,
    );
    if (noAudit !== undefined) {
      out.push(
        `- With the audit file off SARK spent ${f(noAudit)} ms (${f(noAudit / pt, 2)} × the pass-through): the audit row costs ${f(sark - noAudit)} ms per call (${pct(sark - noAudit, extra)} of the difference), and the rest, ${f(noAudit - pt)} ms (${pct(noAudit - pt, extra)}), is the decision path and transparent proxying.`,
      );
    }
    out.push(
      '- What SARK does per call that the pass-through skips: the API key’s SHA-256, strict JSON parsing (duplicate keys refused), classification, the decision-cache key (a SHA-256 of agent and target) and the arguments’ digest, the session binding check, obligations, about a dozen metric updates, and every client and upstream header relayed (the pass-through forwards six and answers with three). `npm run loadtest -- --cpu-prof` profiles SARK and the pass-through in one run and tabulates the difference by kind of work and by file.',
      '',
    );
  }

  // The tail and the highest rate held: how busy the shared cores are at 1000 req/s with each proxy.
  // ms of CPU per call × 1000 calls per second ÷ 1000 ms per second: cores kept busy.
  const busy = (t: 'sark' | 'passthrough') => {
    const r = at(find(w, 'v1', t), 1000);
    return (servingCpu(r) ?? Number.NaN) + (cpuOf(r, 'generator') ?? Number.NaN);
  };
  const uSark = busy('sark');
  const uPt = busy('passthrough');
  if (Number.isFinite(uSark) && Number.isFinite(uPt) && uSark > 0 && uPt > 0) {
    out.push(
      '### Tail at 1000 req/s and highest rate held',
      '',
      `- At 1000 req/s every party together kept ${f(uSark, 2)} of the ${cores} cores busy with SARK in the path and ${f(uPt, 2)} with the pass-through (${Math.round((uSark / cores) * 100)} % against ${Math.round((uPt / cores) * 100)} %). Queueing grows as 1 / (1 − utilisation), and bursts of other work on the shared cores push both towards saturation, so the p99 and the highest rate held follow the CPU per call above and swing from run to run.`,
      '',
    );
  }

  const miss = at(find(w, 'v1', 'sark_miss'), 500);
  const opa = find(w, 'v1', 'opa_direct');
  const opaRun = opa?.sweep ? at(opa, opa.sweep.heldRate) : undefined;
  const all = sum(miss, ['proxy', 'opa', 'upstream', 'generator']);
  const withoutSark = sum(miss, ['opa', 'upstream', 'generator']);
  const opaAlone = sum(opaRun, ['opa', 'generator']);
  if (Number.isFinite(all) && Number.isFinite(opaAlone)) {
    const ceiling = (ms: number) => (cores * 1000) / ms;
    out.push(
      '### Cache-miss path',
      '',
      `- Every party runs on the same ${cores} cores. A miss at 500 req/s cost ${f(all)} ms of CPU per call in all (SARK ${f(cpuOf(miss, 'proxy')!)}, OPA ${f(cpuOf(miss, 'opa')!)}, MCP server ${f(cpuOf(miss, 'upstream')!)}, generator ${f(cpuOf(miss, 'generator')!)}): a ceiling of ${Math.round(ceiling(all))} req/s before any queueing.`,
      `- OPA alone cost ${f(opaAlone)} ms per decision with its generator (at ${opa!.sweep!.heldRate} decisions/s): a ceiling of ${Math.round(ceiling(opaAlone))} decisions/s.`,
      `- A SARK that cost nothing would still leave ${f(withoutSark)} ms per call (OPA, the MCP server, the generator): a ceiling of ${Math.round(ceiling(withoutSark))} req/s, ${f(ceiling(withoutSark) / ceiling(opaAlone), 2)} × OPA alone’s. The 0.8 × target cannot be met while SARK, OPA and the MCP server share these cores; it needs OPA and the MCP server on cores of their own.`,
      '',
    );
  }

  const direct = at(find(w, 'v1', 'direct'), 500)?.latencyMs.p50;
  const ptP50 = at(find(w, 'v1', 'passthrough'), 500)?.latencyMs.p50;
  const sarkP50 = at(find(w, 'v1', 'sark'), 500)?.latencyMs.p50;
  if (direct !== undefined && ptP50 !== undefined && sarkP50 !== undefined) {
    const ptAdded = ptP50 - direct;
    out.push(
      '### Added p50 at 500 req/s',
      '',
      `- Over direct, the bare pass-through added ${f(ptAdded)} ms to the median and SARK ${f(sarkP50 - direct)} ms (medians ${f(ptP50)}, ${f(sarkP50)} and ${f(direct)} ms).` +
        (ptAdded >= 0.3
          ? ' One more process and loopback hop on these shared cores alone costs more than the 0.3 ms the target allows SARK in all.'
          : ''),
      `- SARK's median is ${f(sarkP50 - ptP50)} ms above the pass-through's. The work behind the CPU-per-call gap above (parsing, identity, the decision, obligations, relaying every header) lies on each request's path, so the target needs that work at about the pass-through's cost.`,
      '',
    );
  }

  if (throughput && sark !== undefined && pt !== undefined) {
    const rate = throughput.target.reqPerSec;
    const need = (ms: number) => (rate * ms) / 1000;
    out.push(
      `### ${rate} req/s in the autocannon harness`,
      '',
      `- At the CPU per call measured above (SDK workload), ${rate} req/s needs ${f(need(sark), 2)} cores for SARK alone and ${f(need(pt), 2)} for the bare pass-through; this machine has ${cores}, shared with the load generator and the upstream (direct to the lean upstream, autocannon reached ${throughput.scenarios.direct_max?.reqPerSec ?? 'n/a'} req/s). The rate needs a machine where SARK has about ${Math.ceil(need(sark))} cores to itself, or a CPU per call ${f(cores / need(sark), 2)} × today's.`,
      '',
    );
  }
  return out.length > 0 ? ['## What limits the targets this machine cannot meet', '', ...out] : [];
}
