/**
 * The load-test harness's pure parts: the "held" bar, the figures and
 * verdicts, the soak growth, the profile summary, the /proc readings and the
 * SVG plots. (The processes themselves: test/integration/loadtest/.)
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { held, soakGrowth, variantFigures, verdicts } from '../../../loadtest/figures.ts';
import type { Generator } from '../../../loadtest/generator-client.ts';
import { ROOT } from '../../../loadtest/lib.ts';
import { limitsMarkdown } from '../../../loadtest/limits.ts';
import { childrenOf, cpuSecondsOf, cpuWindow, pidsWithArgs, processTree, rssMiBOf } from '../../../loadtest/proc.ts';
import { comparisonMarkdown, kindOf, summarise } from '../../../loadtest/profile.ts';
import { lineChart, stackedBars } from '../../../loadtest/svg.ts';
import { sweep } from '../../../loadtest/sweep.ts';
import type { TargetResult, WorkloadResult } from '../../../loadtest/workload.ts';
import type { RunResult, Sample } from '../../../loadtest/workload-protocol.ts';

function run(
  rate: number,
  o: { p50?: number; p99?: number; errors?: number; achieved?: number; proxyCpu?: number; rss?: number } = {},
): RunResult {
  const requests = rate * 10;
  return {
    rate,
    durationS: 10,
    requests,
    ok: requests - (o.errors ?? 0),
    errors: o.errors ?? 0,
    errorKinds: {},
    errorRate: (o.errors ?? 0) / requests,
    achievedRate: o.achieved ?? rate,
    lateSends: 0,
    latencyMs: { p50: o.p50 ?? 1, p90: 2, p99: o.p99 ?? 5, p999: 8, max: 10, mean: 1.2 },
    cpu: {
      cpuMsPerCall: { proxy: o.proxyCpu ?? 0.3, upstream: 0.2, generator: 0.3 },
      cpuPercent: {},
      machineBusyCores: 1,
      otherBusyCores: 0,
    },
    answersInWindow: requests,
    windowClockUs: [0, 10_000_000],
    messagesSent: requests,
    rssMiB: { proxy: { mean: o.rss ?? 100, max: o.rss ?? 100 } },
    samples: [],
  };
}

describe('held: p99 < 50 ms, errors < 0.1 %, achieved ≥ 95 %', () => {
  it('holds a clean run', () => expect(held(run(1000))).toBe(true));
  it('misses on the tail', () => expect(held(run(1000, { p99: 50 }))).toBe(false));
  it('misses on errors at 0.1 %', () => expect(held(run(1000, { errors: 10 }))).toBe(false));
  it('misses when answers fall behind the rate', () => expect(held(run(1000, { achieved: 949 }))).toBe(false));
});

function target(t: TargetResult['target'], runs: RunResult[], heldRate?: number, idle = 80): TargetResult {
  return {
    target: t,
    sdk: 'v1',
    idleRssMiB: { proxy: idle },
    runs,
    ...(heldRate ? { sweep: { steps: [], heldRate } } : {}),
  };
}

describe('figures against the pass-through', () => {
  const w: WorkloadResult = {
    bareNodeRssMiB: 42,
    targets: [
      target('direct', [run(500, { p50: 1 }), run(1000)]),
      target('passthrough', [run(500, { p50: 1.2 }), run(1000, { p99: 10, proxyCpu: 0.3, rss: 100 })], 4000, 70),
      target('sark', [run(500, { p50: 1.5 }), run(1000, { p99: 30, proxyCpu: 0.6, rss: 300 })], 2000, 150),
    ],
  };

  it('gives ratios and added latency', () => {
    const f = variantFigures(w, 'v1', 'sark')!;
    expect(f.cpuMsPerCallAt1000).toEqual({ sark: 0.6, passthrough: 0.3, ratio: 2 });
    expect(f.addedP50MsAt500).toEqual({ sark: 0.5, passthrough: 0.2 });
    expect(f.p99MsAt1000.ratio).toBe(3);
    expect(f.heldRate).toEqual({ sark: 2000, passthrough: 4000, ratio: 0.5 });
    expect(f.idleRssMiB.ratio).toBeCloseTo(150 / 70, 3);
    expect(f.loadedRssMiB.ratio).toBe(3);
  });

  it('judges every issue-19 target it can', () => {
    const v = verdicts(w, undefined);
    expect(v.map((x) => x.met)).toEqual([false, false, false, false, false, false]);
    expect(v[0]!.measured).toBe('0.6 ms vs 0.3 ms = 2 ×');
  });

  it('has no verdict without a measurement', () => {
    expect(verdicts({ bareNodeRssMiB: 42, targets: [] }, undefined)).toEqual([]);
  });
});

describe('what limits the targets', () => {
  const withCpu = (r: RunResult, cpu: Record<string, number>): RunResult => ({
    ...r,
    cpu: { ...r.cpu!, cpuMsPerCall: cpu },
  });
  const w: WorkloadResult = {
    bareNodeRssMiB: 42,
    targets: [
      target('direct', [run(500, { p50: 1 })]),
      target('passthrough', [run(500, { p50: 1.5 }), run(1000, { proxyCpu: 0.4 })]),
      target('sark', [run(500, { p50: 2 }), run(1000, { proxyCpu: 0.6 })]),
      target('sark_noaudit', [run(1000, { proxyCpu: 0.55 })]),
      target('sark_miss', [withCpu(run(500), { proxy: 1, opa: 1, upstream: 0.5, generator: 0.5 })], 250),
      target('opa_direct', [], 2000),
    ],
  };
  w.targets
    .find((t) => t.target === 'opa_direct')!
    .sweep!.steps.push({ ...withCpu(run(2000), { opa: 0.75, generator: 0.25 }), held: true });
  const text = limitsMarkdown(w, undefined, 2).join('\n');

  it('splits the CPU gap into the audit row and the rest', () => {
    expect(text).toContain('0.6 ms of CPU per call and the bare pass-through 0.4 ms: 0.2 ms more');
    expect(text).toContain('leaves SARK 0.06 ms per call');
    expect(text).toContain('the audit row costs 0.05 ms per call (25 % of the difference)');
  });

  it('says how busy the shared cores are at 1000 req/s with each proxy', () => {
    // proxy + upstream 0.2 + generator 0.3 ms per call, at 1000 calls per second.
    expect(text).toContain(
      'kept 1.1 of the 2 cores busy with SARK in the path and 0.9 with the pass-through (55 % against 45 %)',
    );
  });

  it('bounds the miss path by the CPU every party needs on the same cores', () => {
    // 2 cores / 3 ms = 667 req/s; OPA alone 2 / 1 ms = 2000; without SARK 2 / 2 ms = 1000 → 0.5 ×.
    expect(text).toContain('cost 3 ms of CPU per call in all');
    expect(text).toContain('a ceiling of 667 req/s');
    expect(text).toContain('a ceiling of 2000 decisions/s');
    expect(text).toContain('a ceiling of 1000 req/s, 0.5 × OPA alone’s');
  });

  it('says what a bare hop adds to the median, and says it only when it passes the bar', () => {
    expect(text).toContain('the bare pass-through added 0.5 ms to the median and SARK 1 ms');
    expect(text).toContain('costs more than the 0.3 ms');
  });

  it('is empty without the runs it needs', () => {
    expect(limitsMarkdown({ bareNodeRssMiB: 42, targets: [] }, undefined, 2)).toEqual([]);
  });
});

describe('two profiles compared', () => {
  it('sorts areas into kinds of work', () => {
    expect(kindOf('dist/decide/cache.js')).toBe('the proxy’s own code');
    expect(kindOf('loadtest/.build/passthrough.mjs')).toBe('the proxy’s own code');
    expect(kindOf('undici')).toBe('undici');
    expect(kindOf('prom-client')).toBe('other packages');
    expect(kindOf('node:internal/streams')).toBe('Node core (JavaScript)');
    expect(kindOf('(native / V8)')).toBe('native (syscalls, V8 builtins)');
    expect(kindOf('(garbage collector)')).toBe('garbage collector');
  });

  it('gives µs per call of each and the difference', () => {
    const summary = (areas: Record<string, number>) => ({
      totalMs: 0,
      idleMs: 0,
      busyMs: Object.values(areas).reduce((a, b) => a + b, 0),
      functions: [],
      areas: [],
      sarkInclusive: [],
      allAreas: areas,
    });
    const md = comparisonMarkdown(
      { label: 'SARK', calls: 1000, summary: summary({ 'dist/x.js': 100, undici: 50 }) },
      { label: 'pass-through', calls: 1000, summary: summary({ undici: 50 }) },
    );
    expect(md).toContain('Main-thread busy time per call: SARK 150 µs, pass-through 50 µs');
    expect(md).toContain('| the proxy’s own code | 100 | 0 | 100 | 100 % |');
    expect(md).toContain('| dist/x.js | the proxy’s own code | 100 | 0 | 100 |');
  });
});

describe('soak growth', () => {
  const sample = (atS: number, rss: number): Sample => ({
    atS,
    rssMiB: { proxy: rss },
    ok: 1,
    errors: 0,
    latencyMs: { p50: 1, p90: 1, p99: 1, p999: 1, max: 1, mean: 1 },
  });
  it('compares the tail with the end of the warm-up', () => {
    const rss = [100, 150, 200, 200, 200, 200, 201, 202, 205, 210];
    const g = soakGrowth({
      bareNodeRssMiB: 42,
      targets: [],
      soak: { rate: 1000, samples: rss.map((r, i) => sample(i * 5, r)), result: run(1000) },
    })!;
    expect(g).toEqual({ fromMiB: 150, toMiB: 210, growthPct: 40 });
  });
});

describe('CPU profile summary', () => {
  // root → a → b, and idle; a sample every 1 ms from t = 1000 µs, each charged the 1 ms to the next.
  const profile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1, columnNumber: -1 }, children: [2] },
      {
        id: 2,
        callFrame: { functionName: 'a', url: `file://${ROOT}src/forward/upstream.ts`, lineNumber: 9, columnNumber: 0 },
        children: [3],
      },
      {
        id: 3,
        callFrame: { functionName: 'b', url: 'node:internal/streams/readable', lineNumber: 0, columnNumber: 0 },
      },
      { id: 4, callFrame: { functionName: '(idle)', url: '', lineNumber: -1, columnNumber: -1 } },
    ],
    startTime: 0,
    endTime: 10_000,
    samples: [2, 3, 3, 4, 3, 3],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000],
  };

  it('charges each sample to the function on top, by area, idle apart', () => {
    const s = summarise(profile, 10);
    expect(s.idleMs).toBe(1);
    expect(s.functions.map((f) => [f.name, f.where, f.selfMs])).toEqual([
      ['b', 'node:internal/streams/readable:1', 3],
      ['a', 'src/forward/upstream.ts:10', 1],
    ]);
    expect(s.areas.map((a) => a.name).sort()).toEqual(['node:internal/streams', 'src/forward/upstream.ts']);
  });

  it('names the nearest SARK function under each cost, and SARK functions by inclusive time', () => {
    const s = summarise(profile, 10);
    expect(s.functions[0]!.callers).toEqual(['a src/forward/upstream.ts:10 (75 %)']);
    expect(s.sarkInclusive.map((f) => [f.name, f.selfMs])).toEqual([['a', 4]]);
  });

  it('keeps only the samples inside the window', () => {
    const s = summarise(profile, 10, [2500, 4500]);
    expect(s.functions.map((f) => f.name)).toEqual(['b']);
  });
});

describe('/proc readings', () => {
  it('reads this process', () => {
    expect(cpuSecondsOf([process.pid])).toBeGreaterThan(0);
    expect(rssMiBOf([process.pid])).toBeGreaterThan(10);
    expect(processTree([process.pid])[0]).toBe(process.pid);
  });

  it('finds a child by its arguments and as a child', async () => {
    const marker = `loadtest-marker-${process.pid}`;
    const child = spawn('sleep', ['5'], { stdio: 'ignore' });
    const tagged = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)', marker], { stdio: 'ignore' });
    try {
      expect(pidsWithArgs([marker])).toEqual([tagged.pid]);
      expect(childrenOf(process.pid)).toEqual(expect.arrayContaining([child.pid, tagged.pid]));
      expect(processTree([process.pid])).toEqual(expect.arrayContaining([child.pid, tagged.pid]));
    } finally {
      child.kill();
      tagged.kill();
    }
  });

  it('turns two readings into CPU per call and other load', () => {
    const w = cpuWindow(
      { at: 0, parties: { proxy: 1 }, machine: { busyS: 10, totalS: 100 } },
      { at: 2000, parties: { proxy: 1.5 }, machine: { busyS: 12, totalS: 104 } },
      1000,
    );
    expect(w.cpuMsPerCall.proxy).toBeCloseTo(0.5, 9);
    expect(w.cpuPercent.proxy).toBeCloseTo(25, 9);
    expect(w.machineBusyCores).toBeCloseTo(1, 9);
    expect(w.otherBusyCores).toBeCloseTo(0.75, 9);
  });
});

describe('SVG plots', () => {
  it('draws a log-log line chart with a legend and the 50 ms mark', () => {
    const svg = lineChart({
      title: 't <1>',
      xLabel: 'x',
      yLabel: 'y',
      logX: true,
      logY: true,
      series: [
        {
          name: 'SARK p50',
          color: '#000',
          points: [
            [200, 1],
            [1000, 3],
          ],
        },
      ],
      marks: [{ y: 50, label: '50 ms' }],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('SARK p50');
    expect(svg).toContain('t &lt;1&gt;');
    expect(svg).toContain('>50 ms<');
    expect(svg).toMatch(/<path d="M[\d.]+ [\d.]+ L[\d.]+ [\d.]+"/);
  });

  it('stacks bars by part and writes their totals', () => {
    const svg = stackedBars({
      title: 'cpu',
      unit: 'ms',
      parts: [
        { name: 'proxy', color: '#111' },
        { name: 'upstream', color: '#222' },
      ],
      bars: [{ label: 'SARK', values: { proxy: 0.5, upstream: 0.25 } }],
    });
    expect(svg.match(/<rect x=/g)?.length).toBe(2 + 2); // two segments, two legend keys
    expect(svg).toContain('>0.75<');
  });
});

describe('sweep for the highest rate held', () => {
  /** A target that holds every rate up to `capacity` req/s. */
  const target = (capacity: number) => {
    const tried: number[] = [];
    const gen = {
      run: async (cmd: { rate: number }) => {
        tried.push(cmd.rate);
        return run(cmd.rate, { p99: cmd.rate <= capacity ? 5 : 500 });
      },
    } as unknown as Generator;
    return { gen, tried };
  };
  const plan = { warmupS: 0, durationS: 1, startRate: 1000, maxRate: 16_000, refine: 1, settleMs: 0 };

  it('doubles from the best fixed rate held, then bisects once', async () => {
    const { gen, tried } = target(1700);
    const r = await sweep(gen, {}, plan, [run(500), run(1000)], undefined);
    expect(tried).toEqual([2000, 1500]);
    expect(r.heldRate).toBe(1500);
  });

  it('takes a miss below a held rate for noise, not the limit', async () => {
    const { gen, tried } = target(2500);
    const r = await sweep(gen, {}, plan, [run(500, { p99: 80 }), run(1000)], undefined);
    expect(tried).toEqual([2000, 4000, 3000]);
    expect(r.heldRate).toBe(2000);
  });

  it('halves when no fixed rate was held', async () => {
    const { gen, tried } = target(120);
    const r = await sweep(gen, {}, plan, [run(200, { p99: 80 })], undefined);
    expect(tried).toEqual([100, 150]);
    expect(r.heldRate).toBe(100);
  });
});
