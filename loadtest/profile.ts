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

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '30' } },
  });
  process.stdout.write(profileMarkdown(summariseFile(positionals[0]!, Number(values.top))));
}
