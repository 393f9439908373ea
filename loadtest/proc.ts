/**
 * What a process costs, read from Linux /proc (proc(5)): CPU time from
 * /proc/<pid>/stat (utime + stime, fields 14 and 15, in clock ticks), resident
 * memory from /proc/<pid>/status (VmRSS), and the machine's busy time from
 * /proc/stat, so a run can tell its own processes' CPU from other load on the
 * shared cores. Elsewhere than Linux every reading is 0.
 *
 * A party may be several processes (ClickHouse runs under `runuser`): it is
 * read as its root pids plus every descendant.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: the kernel reports CPU times in 1/100 s on every Linux we run on (sysconf(_SC_CLK_TCK)). */
const TICKS_PER_S = 100;

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // the process has ended
  }
}

function allPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map(Number);
  } catch {
    return [];
  }
}

/** `roots` and all their descendants (parent pid is field 4 of /proc/<pid>/stat). */
export function processTree(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const pid of allPids()) {
    const ppid = Number(statFields(pid)?.[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [...roots];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (out.includes(pid)) continue;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Pids whose argv holds every one of `args` (exact arguments, not substrings of the command line). */
export function pidsWithArgs(args: readonly string[]): number[] {
  const out: number[] = [];
  for (const pid of allPids()) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.every((a) => argv.includes(a))) out.push(pid);
    } catch {}
  }
  return out;
}

/** CPU seconds (user + system) used so far by `pids` together (pids that ended count 0). */
export function cpuSecondsOf(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / TICKS_PER_S;
}

/** Resident set size of `pids` together, in MiB (VmRSS). */
export function rssMiBOf(pids: readonly number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kib += Number(m[1]);
    } catch {}
  }
  return kib / 1024;
}

export interface MachineCpu {
  /** CPU seconds spent busy (not idle, not waiting for I/O) on all cores since boot. */
  readonly busyS: number;
  readonly totalS: number;
}

/** The aggregate `cpu` line of /proc/stat. */
export function machineCpu(): MachineCpu {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busyS: (total - idle) / TICKS_PER_S, totalS: total / TICKS_PER_S };
  } catch {
    return { busyS: 0, totalS: 0 };
  }
}

/** The parties of a run by name (sark, opa, upstream, …), each a set of root pids. */
export type Watch = Readonly<Record<string, readonly number[]>>;

/** One reading of every party's CPU and of the machine. */
export interface CpuReading {
  readonly at: number;
  readonly parties: Record<string, number>;
  readonly machine: MachineCpu;
}

/** Resolves each party to its process tree now (a party's children may start after it). */
export function resolveWatch(watch: Watch): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, roots] of Object.entries(watch)) out[name] = processTree(roots);
  return out;
}

export function readCpu(parties: Record<string, number[]>): CpuReading {
  const out: Record<string, number> = {};
  for (const [name, pids] of Object.entries(parties)) out[name] = cpuSecondsOf(pids);
  return { at: performance.now(), parties: out, machine: machineCpu() };
}

export interface CpuWindow {
  /** CPU ms each party spent per call over the window. */
  readonly cpuMsPerCall: Record<string, number>;
  /** Each party's CPU over the window as a share of one core, in percent. */
  readonly cpuPercent: Record<string, number>;
  /** Machine busy time over the window, in cores (0 … number of cores). */
  readonly machineBusyCores: number;
  /** Busy time not spent by any watched party (other agents, the kernel's own threads), in cores. */
  readonly otherBusyCores: number;
}

export function cpuWindow(a: CpuReading, b: CpuReading, calls: number): CpuWindow {
  const wallS = (b.at - a.at) / 1000;
  const perCall: Record<string, number> = {};
  const percent: Record<string, number> = {};
  let ours = 0;
  for (const name of Object.keys(b.parties)) {
    const s = (b.parties[name] ?? 0) - (a.parties[name] ?? 0);
    ours += s;
    perCall[name] = calls > 0 ? (s * 1000) / calls : Number.NaN;
    percent[name] = wallS > 0 ? (s / wallS) * 100 : Number.NaN;
  }
  const busy = b.machine.busyS - a.machine.busyS;
  return {
    cpuMsPerCall: perCall,
    cpuPercent: percent,
    machineBusyCores: wallS > 0 ? busy / wallS : Number.NaN,
    otherBusyCores: wallS > 0 ? Math.max(0, busy - ours) / wallS : Number.NaN,
  };
}

/** The direct children of `pid` (/proc/<pid>/task/<pid>/children, Linux ≥ 3.5). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
