/**
 * Load-test building blocks: child processes that print their URL, an
 * autocannon run that records every latency (autocannon's summary has no
 * p95), and percentile maths.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { compileIndex, ROOT } from '../scripts/build-policy.ts';
import { freePort } from '../test/support/services.ts';

export { ROOT };
export const MAIN = join(ROOT, 'src/cli/main.ts');

/**
 * What the load tests' OPA loads: the repo's policies and data, the load-test
 * overlay (no rate limit on echo), and a gateway index compiled for that data.
 * The committed index was compiled without the overlay, so its echo entry would
 * not match the live data and every call would take the plain fast path.
 */
export function loadtestPolicyPaths(): string[] {
  const policies = join(ROOT, 'opa/policies');
  const overlay = join(ROOT, 'loadtest/fixtures/data-overlay.json');
  const index = join(mkdtempSync(join(tmpdir(), 'sark-loadtest-index-')), 'index.json');
  writeFileSync(index, JSON.stringify(compileIndex([policies, join(ROOT, 'opa/data'), overlay])));
  return [policies, join(ROOT, 'opa/data/data.json'), overlay, index];
}

/** The load test's call: an echo by an API-key developer agent (loadtest/fixtures/keys.json), allowed by the policy. */
export const BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'load test' } },
});
export const HEADERS = { 'mcp-protocol-version': '2025-11-25', 'x-api-key': 'loadtest-developer-key-0123456789' };

export interface Child {
  readonly url: string;
  readonly proc: ChildProcess;
  stop(): Promise<void>;
}

/** The lean JSON upstream both harnesses measure against (loadtest/upstream.ts). */
export function startUpstream(): Promise<Child> {
  return spawnNode(join(ROOT, 'loadtest/upstream.ts'), [], /^(http\S+)$/m);
}

/** Spawns `node <script> …args` and resolves with the first line matching `pattern` on stdout. */
export function spawnNode(
  script: string,
  args: string[],
  pattern: RegExp,
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
): Promise<Child> {
  const proc = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    ...(cwd === undefined ? {} : { cwd }),
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${out}\n${err}`)), 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!,
          proc,
          stop: () =>
            new Promise<void>((r) => {
              if (proc.exitCode !== null) return r();
              proc.once('exit', () => r());
              proc.kill('SIGTERM');
              setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
            }),
        });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}:\n${out}\n${err}`));
    });
  });
}

export interface Sark {
  readonly url: string;
  readonly adminUrl: string;
  readonly proc: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The flags every load-test SARK starts with: an ephemeral data port, the
 * given admin port, the upstream, the load test's API keys, and logs at warn
 * (nothing is logged per request at info either; warn keeps start-up lines
 * out of the pipe).
 */
export function sarkServeFlags(upstreamUrl: string, adminPort: number): string[] {
  return [
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    `127.0.0.1:${adminPort}`,
    '--upstream-url',
    upstreamUrl,
    '--api-keys-file',
    join(ROOT, 'loadtest/fixtures/keys.json'),
    '--log-level',
    'warn',
  ];
}

/** `sark serve` in front of `upstreamUrl`, deciding with the OPA server at `opaUrl`; logs at warn only. */
export async function startSark(upstreamUrl: string, opaUrl: string, extra: string[]): Promise<Sark> {
  const adminPort = await freePort();
  const child = await spawnNode(
    MAIN,
    [...sarkServeFlags(upstreamUrl, adminPort), '--opa-url', opaUrl, ...extra],
    /MCP endpoint \(Streamable HTTP\): (\S+)/,
  );
  return { url: child.url, adminUrl: `http://127.0.0.1:${adminPort}`, proc: child.proc, stop: child.stop };
}

/**
 * CPU seconds (user + system) used so far by every process whose command line
 * contains `needle` (Linux /proc; 0 elsewhere). Lets a benchmark charge work
 * to SARK or to ClickHouse.
 */
export function cpuSeconds(needle: string | number): number {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  let pids: string[];
  try {
    pids = typeof needle === 'number' ? [String(needle)] : readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      if (typeof needle === 'string' && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / tick; // utime, stime (fields 14 and 15)
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return total;
}

/** Sends the load test's call once and throws unless it was allowed end to end (else the run would measure refusals). */
export async function assertAllowed(name: string, url: string): Promise<void> {
  const probe = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...HEADERS },
    body: BODY,
  });
  const body = (await probe.json()) as { result?: unknown };
  if (probe.status !== 200 || !body.result) throw new Error(`${name}: probe not allowed: ${JSON.stringify(body)}`);
}

export interface RunOptions {
  url: string;
  body: string;
  headers?: Record<string, string>;
  connections: number;
  durationS: number;
  /** Fixed overall request rate (req/s); unset = as fast as possible. */
  rate?: number;
}

export interface RunResult {
  requests: number;
  reqPerSec: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export async function run(o: RunOptions): Promise<RunResult> {
  let lat = new Float64Array(1 << 16);
  let n = 0;
  const instance = autocannon({
    url: o.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...o.headers },
    body: o.body,
    connections: o.connections,
    duration: o.durationS,
    ...(o.rate ? { overallRate: o.rate } : {}),
  });
  // The typings describe the promise form only; the instance is also an EventEmitter.
  (instance as unknown as import('node:events').EventEmitter).on(
    'response',
    (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      if (n === lat.length) {
        const grown = new Float64Array(lat.length * 2);
        grown.set(lat);
        lat = grown;
      }
      lat[n++] = responseTime;
    },
  );
  const result = await instance;
  const sorted = lat.slice(0, n).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return {
    requests: result.requests.total,
    reqPerSec: Math.round(result.requests.total / o.durationS),
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMs: {
      p50: round(percentile(sorted, 50)),
      p95: round(percentile(sorted, 95)),
      p99: round(percentile(sorted, 99)),
      max: round(sorted[n - 1] ?? Number.NaN),
      mean: round(sum / Math.max(n, 1)),
    },
  };
}

/** Rounds to hundredths, as every figure in the result files is. */
export function round(v: number): number {
  return Math.round(v * 100) / 100;
}
