/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, the .cpuprofile JSON):
 * self time per function and per area (a SARK source file, a package, Node's
 * internals, the garbage collector, idle). A sample's time is the interval to
 * the next sample (timeDeltas), charged to the function on top of the stack.
 *
 *   npx node loadtest/profile.ts FILE.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ROOT } from './lib.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  readonly name: string;
  readonly where: string;
  /** Self time (inclusive time in sarkInclusive), ms. */
  readonly selfMs: number;
  /** Share of the non-idle time, in percent. */
  readonly pct: number;
  /** The nearest SARK functions (src/) on the stacks of this function's samples, with their shares. */
  readonly callers?: string[];
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly busyMs: number;
  readonly functions: SelfTime[];
  readonly areas: SelfTime[];
  /** SARK's own functions (src/ or dist/) by inclusive time: what each stage costs with everything it calls. */
  readonly sarkInclusive: SelfTime[];
  /** Self time of every area, not only the top ones (for comparing two profiles), ms. */
  readonly allAreas: Readonly<Record<string, number>>;
}

/**
 * Coarse kinds of work, so that two proxies' profiles compare: the proxy's
 * own code, the packages it uses, Node's JavaScript, native work (syscalls
 * and V8 builtins: mostly socket reads and writes), the garbage collector.
 */
export const KINDS = [
  'the proxy’s own code',
  'undici',
  'other packages',
  'Node core (JavaScript)',
  'native (syscalls, V8 builtins)',
  'garbage collector',
  'V8 runtime (program)',
] as const;
export type Kind = (typeof KINDS)[number];

export function kindOf(area: string): Kind {
  if (area === '(garbage collector)') return 'garbage collector';
  if (area === '(program)' || area === '(root)') return 'V8 runtime (program)';
  if (area === '(native / V8)') return 'native (syscalls, V8 builtins)';
  if (area === 'undici') return 'undici';
  if (area.startsWith('node:')) return 'Node core (JavaScript)';
  if (area.startsWith('src/') || area.startsWith('dist/') || area.startsWith('loadtest/'))
    return 'the proxy’s own code';
  return 'other packages';
}

/** A short location: a path under the repository, a package name, or node's internal module. */
function location(url: string): { where: string; area: string } {
  if (!url) return { where: '', area: '(native / V8)' };
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = path.slice(nm + '/node_modules/'.length);
    const parts = rest.split('/');
    const pkg = parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
    return { where: rest, area: pkg };
  }
  if (path.startsWith(ROOT)) {
    const rel = path.slice(ROOT.length);
    return { where: rel, area: rel };
  }
  // node:internal/streams/readable → node:internal/streams; node:_http_server stays whole.
  if (path.startsWith('node:')) return { where: path, area: path.split('/').slice(0, 2).join('/') };
  return { where: path, area: path };
}

/** V8's pseudo-frames: time not spent in any one function. */
const SPECIAL = new Set(['(garbage collector)', '(program)', '(root)']);

/** SARK's own code: the sources, or the compiled dist/ the load test runs (as the image does). */
const SARK_CODE = [`${ROOT}src/`, `${ROOT}dist/`];
const isSark = (url: string) => {
  const path = url.replace(/^file:\/\//, '');
  return SARK_CODE.some((p) => path.startsWith(p));
};

/**
 * `window`: only samples stamped within [start, end] µs of the monotonic clock
 * (the measured window: start-up and shutdown stay out).
 */
export function summarise(profile: CpuProfile, top = 30, window?: readonly [number, number]): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (window && (t < window[0] || t > window[1])) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
  }
  const label = (id: number) => {
    const { callFrame } = byId.get(id)!;
    const name = callFrame.functionName || '(anonymous)';
    const loc = location(callFrame.url);
    return { name, where: loc.where ? `${loc.where}:${callFrame.lineNumber + 1}` : '', area: loc.area };
  };
  const fns = new Map<string, { name: string; where: string; us: number; callers: Map<string, number> }>();
  const inclusive = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of self) {
    total += us;
    const l = label(id);
    if (l.name === '(idle)') {
      idle += us;
      continue;
    }
    const key = `${l.name} ${l.where}`;
    const f = fns.get(key) ?? { name: l.name, where: l.where, us: 0, callers: new Map<string, number>() };
    f.us += us;
    fns.set(key, f);
    const area = SPECIAL.has(l.name) ? l.name : l.area;
    areas.set(area, (areas.get(area) ?? 0) + us);
    // Up the stack: inclusive time of SARK's own functions (each once per stack), and the nearest one as the caller.
    const seen = new Set<string>();
    let caller: string | undefined;
    for (let a: number | undefined = id; a !== undefined; a = parent.get(a)) {
      if (!isSark(byId.get(a)!.callFrame.url)) continue;
      const al = label(a);
      const ak = `${al.name} ${al.where}`;
      caller ??= ak;
      if (seen.has(ak)) continue;
      seen.add(ak);
      const inc = inclusive.get(ak) ?? { name: al.name, where: al.where, us: 0 };
      inc.us += us;
      inclusive.set(ak, inc);
    }
    const c = caller ?? '(no SARK frame)';
    f.callers.set(c, (f.callers.get(c) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => Math.round((us / busy) * 1000) / 10;
  const ms = (us: number) => Math.round(us / 100) / 10;
  return {
    totalMs: ms(total),
    idleMs: ms(idle),
    busyMs: ms(busy),
    functions: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({
        name: f.name,
        where: f.where,
        selfMs: ms(f.us),
        pct: pct(f.us),
        callers: [...f.callers.entries()]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([k, us]) => `${k.trim()} (${pct(us)} %)`),
      })),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, us]) => ({ name: area, where: '', selfMs: ms(us), pct: pct(us) })),
    sarkInclusive: [...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: ms(f.us), pct: pct(f.us) })),
    allAreas: Object.fromEntries([...areas.entries()].map(([a, us]) => [a, us / 1000])),
  };
}

export function summariseFile(path: string, top = 30, window?: readonly [number, number]): ProfileSummary {
  return summarise(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, top, window);
}

export function profileMarkdown(s: ProfileSummary): string {
  const lines = [
    `Sampled ${s.totalMs} ms: ${s.busyMs} ms busy, ${s.idleMs} ms idle. Shares are of the busy time.`,
    '',
    'Top functions by self time, each with the nearest SARK functions on its stacks:',
    '',
    '| self ms | % busy | function | where | nearest SARK caller (share of busy) |',
    '|---:|---:|---|---|---|',
    ...s.functions.map(
      (f) => `| ${f.selfMs} | ${f.pct} | \`${f.name}\` | ${f.where} | ${(f.callers ?? []).join('; ')} |`,
    ),
    '',
    'Self time by area (a SARK file, a package, a Node internal module):',
    '',
    '| self ms | % busy | area |',
    '|---:|---:|---|',
    ...s.areas.map((a) => `| ${a.selfMs} | ${a.pct} | ${a.name} |`),
    '',
    'SARK functions by inclusive time (everything they call included):',
    '',
    '| inclusive ms | % busy | function | where |',
    '|---:|---:|---|---|',
    ...s.sarkInclusive.map((f) => `| ${f.selfMs} | ${f.pct} | \`${f.name}\` | ${f.where} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/** One profiled proxy: its summary and the calls scheduled in the profiled window. */
export interface ProfiledProxy {
  readonly label: string;
  readonly summary: ProfileSummary;
  readonly calls: number;
}

/**
 * Where the difference in main-thread CPU per call goes, by kind of work and
 * by area (µs per call; the areas that differ most first). The profile sees
 * the main thread only: /proc's CPU per call also counts libuv's and V8's
 * helper threads.
 */
export function comparisonMarkdown(a: ProfiledProxy, b: ProfiledProxy, topAreas = 20): string {
  const per = (p: ProfiledProxy, ms: number) => (ms * 1000) / p.calls;
  const r = (us: number) => Math.round(us * 10) / 10;
  const kindUs = (p: ProfiledProxy) => {
    const out = new Map<Kind, number>(KINDS.map((k) => [k, 0]));
    for (const [area, ms] of Object.entries(p.summary.allAreas)) {
      out.set(kindOf(area), out.get(kindOf(area))! + per(p, ms));
    }
    return out;
  };
  const ka = kindUs(a);
  const kb = kindUs(b);
  const busyA = per(a, a.summary.busyMs);
  const busyB = per(b, b.summary.busyMs);
  const areas = new Set([...Object.keys(a.summary.allAreas), ...Object.keys(b.summary.allAreas)]);
  const rows = [...areas]
    .map((area) => {
      const ua = per(a, a.summary.allAreas[area] ?? 0);
      const ub = per(b, b.summary.allAreas[area] ?? 0);
      return { area, ua, ub, d: ua - ub };
    })
    .sort((x, y) => Math.abs(y.d) - Math.abs(x.d))
    .slice(0, topAreas);
  const lines = [
    `Main-thread busy time per call: ${a.label} ${r(busyA)} µs, ${b.label} ${r(busyB)} µs (${a.calls} and ${b.calls} calls profiled).`,
    '',
    `| kind of work | ${a.label}, µs/call | ${b.label}, µs/call | difference | share of the difference |`,
    '|---|---:|---:|---:|---:|',
    ...KINDS.map((k) => {
      const d = ka.get(k)! - kb.get(k)!;
      return `| ${k} | ${r(ka.get(k)!)} | ${r(kb.get(k)!)} | ${r(d)} | ${Math.round((d / (busyA - busyB)) * 100)} % |`;
    }),
    `| **all** | **${r(busyA)}** | **${r(busyB)}** | **${r(busyA - busyB)}** | 100 % |`,
    '',
    `The ${topAreas} areas that differ most (a file of the proxy, a package, a Node internal module):`,
    '',
    `| area | kind | ${a.label}, µs/call | ${b.label}, µs/call | difference |`,
    '|---|---|---:|---:|---:|',
    ...rows.map((x) => `| ${x.area} | ${kindOf(x.area)} | ${r(x.ua)} | ${r(x.ub)} | ${r(x.d)} |`),
  ];
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '30' } },
  });
  process.stdout.write(profileMarkdown(summariseFile(positionals[0]!, Number(values.top))));
}
