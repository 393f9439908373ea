/**
 * The parties of the SDK workload, each in its own process on loopback: the
 * SDK upstreams, the bare pass-through, SARK in its variants, OPA, ClickHouse
 * and the generator. Every process is bounded: the Node parties end when the
 * harness's end of their stdin closes or after their TTL (lifetime.ts), SARK
 * runs under coreutils `timeout`, OPA and ClickHouse are killed with the
 * harness (test/support/services.ts), and all are stopped when a run ends.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPA_GOGC_DEFAULT } from '../src/inject/options.ts';
import { freePort, type Service, startClickHouse, startOpa } from '../test/support/services.ts';
import { loadtestPolicyPaths, MAIN, ROOT, sarkServeFlags } from './lib.ts';
import { childrenOf, pidsWithArgs } from './proc.ts';

export const KEYS_FILE = join(ROOT, 'loadtest/fixtures/keys.json');

/**
 * Every party runs as JavaScript, the way the image runs SARK (`npm run
 * build`, then dist/): started from .ts, Node loads its TypeScript stripper
 * (amaro), ≈ 17 MiB of RSS that no deployment pays, into each measured
 * process. SARK (and a --ref checkout) is compiled once per run; the bare
 * pass-through's two files are stripped into loadtest/.build/ (inside the
 * repository, so that `undici` still resolves).
 */
const compiled = new Map<string, string>();

export function compiledSark(root: string): string {
  let main = compiled.get(root);
  if (main === undefined) {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
      {
        cwd: root,
        stdio: 'inherit',
      },
    );
    main = join(root, 'dist/cli/main.js');
    compiled.set(root, main);
  }
  return main;
}

/**
 * The Node options the image sets (Dockerfile `ENV NODE_OPTIONS="…"`): every
 * SARK of a run, --ref included, runs with them, so that two checkouts are
 * compared on their code and both as deployed.
 */
export function imageNodeOptions(): string[] {
  const m = /^\s*NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  return m ? m[1]!.split(/\s+/).filter(Boolean) : [];
}

function strippedPassthrough(): string {
  const out = join(ROOT, 'loadtest/.build');
  mkdirSync(out, { recursive: true });
  for (const name of ['passthrough', 'lifetime']) {
    const ts = readFileSync(join(ROOT, `loadtest/${name}.ts`), 'utf8');
    writeFileSync(join(out, `${name}.mjs`), stripTypeScriptTypes(ts).replace("'./lifetime.ts'", "'./lifetime.mjs'"));
  }
  return join(out, 'passthrough.mjs');
}
export const API_KEY = 'loadtest-developer-key-0123456789';

export interface Party {
  readonly name: string;
  readonly url: string;
  /** Root pids whose process trees make up the party (read through /proc). */
  readonly pids: number[];
  stop(): Promise<void>;
}

const live = new Map<ChildProcess, boolean>();
process.once('exit', () => {
  for (const [p, group] of live) {
    if (p.exitCode !== null || p.pid === undefined) continue;
    try {
      // `timeout` leads its own process group (coreutils): killing the group takes SARK with it.
      if (group) process.kill(-p.pid, 'SIGKILL');
      else p.kill('SIGKILL');
    } catch {}
  }
});

/**
 * Kills `proc` with the harness should the harness end without stopping it;
 * `group`: the whole process group it leads.
 */
export function track(proc: ChildProcess, group = false): void {
  live.set(proc, group);
  proc.once('exit', () => live.delete(proc));
}

interface Spawned {
  readonly url: string;
  readonly proc: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Spawns `command args…` with stdin held open (its end tells our Node parties
 * the harness is gone) and resolves with the first match of `ready` on stdout.
 */
export function spawnParty(
  name: string,
  command: string,
  args: string[],
  ready: RegExp,
  options: { cwd?: string; env?: NodeJS.ProcessEnv; group?: boolean } = {},
): Promise<Spawned> {
  const proc = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
  });
  track(proc, options.group);
  let out = '';
  let err = '';
  let matched = false;
  proc.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
      proc.stdin!.end();
      setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${name} did not start within 60 s:\n${out}\n${err}`));
    }, 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      if (matched) return; // later output is drained and dropped
      out += d.toString();
      const m = ready.exec(out);
      if (!m) return;
      matched = true;
      clearTimeout(timer);
      resolve({ url: m[1]!, proc, stop });
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!matched) reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${out}\n${err}`));
    });
  });
}

const URL_LINE = /^(http\S+)$/m;

export async function startMcpUpstream(sdk: 'v1' | 'v2', ttlS: number): Promise<Party> {
  const s = await spawnParty(
    `upstream ${sdk}`,
    process.execPath,
    [join(ROOT, 'loadtest/mcp-upstream.ts'), '--sdk', sdk],
    URL_LINE,
    { env: { LOADTEST_TTL_S: String(ttlS) } },
  );
  return { name: 'upstream', url: s.url, pids: [s.proc.pid!], stop: s.stop };
}

export async function startPassthrough(upstreamUrl: string, ttlS: number, nodeArgs: string[] = []): Promise<Party> {
  const s = await spawnParty(
    'pass-through',
    process.execPath,
    [...nodeArgs, strippedPassthrough(), '--upstream', upstreamUrl, '--keys', KEYS_FILE],
    URL_LINE,
    { env: { LOADTEST_TTL_S: String(ttlS) } },
  );
  return { name: 'passthrough', url: s.url, pids: [s.proc.pid!], stop: s.stop };
}

export interface OpaParty extends Party {
  readonly service: Service;
}

export async function startOpaParty(): Promise<OpaParty> {
  // OPA as SARK deploys it: the webhook's GOGC.
  const service = await startOpa({ paths: loadtestPolicyPaths(), env: { GOGC: String(OPA_GOGC_DEFAULT) } });
  return {
    name: 'opa',
    url: service.url,
    pids: pidsWithArgs(['--addr', `127.0.0.1:${service.port}`]),
    service,
    stop: () => service.stop(),
  };
}

export async function startClickHouseParty(): Promise<Party> {
  const service = await startClickHouse();
  execFileSync(process.execPath, [MAIN, 'migrate', '--audit-clickhouse-url', service.url], { stdio: 'ignore' });
  return {
    name: 'clickhouse',
    url: service.url,
    pids: pidsWithArgs([`--config-file=${join(service.dir, 'config.xml')}`]),
    stop: () => service.stop(),
  };
}

/**
 * SARK's variants in the workload: each differs from the shipped
 * configuration in one respect. `sark_ref` is the shipped configuration of
 * another checkout of SARK (`--ref DIR`, e.g. a `git worktree` of the commit
 * before a change), measured in the same run as this one: before/after
 * comparisons on the same machine state. `sark_noaudit` has the audit file
 * off, so that the report can split SARK's cost into the audit row and the
 * rest.
 */
export type SarkVariant = 'sark' | 'sark_clickhouse' | 'sark_wasm' | 'sark_miss' | 'sark_ref' | 'sark_noaudit';

export interface SarkParty extends Party {
  readonly adminUrl: string;
  /** The working directory: the default audit file (sark-audit.ndjson) lands here. */
  readonly dir: string;
}

/** The embedded evaluator's bundle (opa/build) with the load-test data overlay merged into its data. */
function embeddedPolicyDir(dir: string): string {
  const out = join(dir, 'policy');
  mkdirSync(out, { recursive: true });
  cpSync(join(ROOT, 'opa/build/policy.wasm'), join(out, 'policy.wasm'));
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const o = { ...a };
    for (const [k, v] of Object.entries(b)) {
      const cur = o[k];
      o[k] =
        v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
          ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
          : v;
    }
    return o;
  };
  const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  const data = merge(read(join(ROOT, 'opa/build/data.json')), read(join(ROOT, 'loadtest/fixtures/data-overlay.json')));
  writeFileSync(join(out, 'data.json'), JSON.stringify(data));
  return out;
}

export interface SarkOptions {
  readonly variant: SarkVariant;
  readonly upstreamUrl: string;
  readonly opaUrl: string;
  readonly clickhouseUrl?: string;
  readonly ttlS: number;
  /** sark_ref: the other checkout's root. */
  readonly refRoot?: string;
  /** Node flags before the script, e.g. --cpu-prof. */
  readonly nodeArgs?: string[];
  /** Flags after the variant's own. */
  readonly extraFlags?: string[];
}

/** The exact `sark serve` flags of a variant (the report quotes them). */
export function sarkFlags(o: SarkOptions, dir: string, adminPort: number): string[] {
  return [...variantFlags(o, dir, adminPort), ...(o.extraFlags ?? [])];
}

function variantFlags(o: SarkOptions, dir: string, adminPort: number): string[] {
  const flags = sarkServeFlags(o.upstreamUrl, adminPort);
  switch (o.variant) {
    case 'sark':
    case 'sark_ref':
      return [...flags, '--opa-url', o.opaUrl];
    case 'sark_miss':
      return [...flags, '--opa-url', o.opaUrl, '--decision-cache-entries', '0'];
    case 'sark_noaudit':
      return [...flags, '--opa-url', o.opaUrl, '--audit-file', 'off'];
    case 'sark_clickhouse':
      return [
        ...flags,
        '--opa-url',
        o.opaUrl,
        '--audit-clickhouse-url',
        o.clickhouseUrl!,
        '--audit-spool-dir',
        join(dir, 'spool'),
      ];
    case 'sark_wasm':
      return [...flags, '--embedded-policy-dir', embeddedPolicyDir(dir)];
  }
}

export async function startSarkParty(o: SarkOptions): Promise<SarkParty> {
  const dir = mkdtempSync(join(tmpdir(), `sark-loadtest-${o.variant}-`));
  const adminPort = await freePort();
  const s = await spawnParty(
    o.variant,
    'timeout',
    [
      '--kill-after=10',
      String(o.ttlS),
      process.execPath,
      ...(o.nodeArgs ?? []),
      ...imageNodeOptions(),
      compiledSark(o.variant === 'sark_ref' ? o.refRoot! : ROOT),
      ...sarkFlags(o, dir, adminPort),
    ],
    /MCP endpoint \(Streamable HTTP\): (\S+)/,
    { cwd: dir, group: true },
  );
  const node = childrenOf(s.proc.pid!);
  return {
    name: 'sark',
    url: s.url,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    dir,
    // The node process under `timeout` (timeout's own few hundred kB stay out of RSS).
    pids: node.length > 0 ? node : [s.proc.pid!],
    stop: async () => {
      await s.stop(); // timeout passes SIGTERM on: SARK flushes its audit queue and exits
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
