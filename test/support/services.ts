/**
 * Real services for integration tests: OPA, Redis and ClickHouse, each started
 * on loopback, on a free ephemeral port, with a private temporary directory;
 * `start*` resolves once the service answers, `stop()` kills it and removes
 * its directory. scripts/test-env.sh installs the binaries.
 *
 * The processes are spawned detached in their own process group so that
 * `freeze()` (SIGSTOP) and `kill()` reach the whole service.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireOpa } from '../../scripts/tools.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;

export interface Service {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Stop and clean up (idempotent). */
  stop(): Promise<void>;
  /** Kill without cleaning the directory (for restart tests). */
  kill(): Promise<void>;
  /** Start again on the same port and directory after kill(). */
  restart(): Promise<void>;
  freeze(): void;
  thaw(): void;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
  proc?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null)
      throw new Error(`${what} exited with code ${proc.exitCode} before it was ready`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms`);
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await res.arrayBuffer();
  return res.ok;
}

function tcpAnswers(port: number, send: string, expect: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write(send));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes(expect)) done(true);
    });
  });
}

interface ProcessSpec {
  name: string;
  dir: string;
  port: number;
  url: string;
  command: string;
  args: string[];
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** Added to this process's environment. */
  env?: Record<string, string>;
}

/**
 * Services are detached (own process group); should a test process end
 * without stopping them, this kills them with it, so nothing outlives a run.
 */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) {
    try {
      if (p.pid !== undefined && p.exitCode === null) process.kill(-p.pid, 'SIGKILL');
    } catch {}
  }
});

async function manage(spec: ProcessSpec): Promise<Service> {
  let proc: ChildProcess | undefined;
  let stopped = false;
  const logPath = join(spec.dir, `${spec.name}.out.log`);

  async function launch() {
    const { openSync } = await import('node:fs');
    const out = openSync(logPath, 'a');
    const child = spawn(spec.command, spec.args, {
      cwd: spec.dir,
      detached: true,
      stdio: ['ignore', out, out],
      ...(spec.env ? { env: { ...process.env, ...spec.env } } : {}),
    });
    proc = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    try {
      await waitFor(spec.name, spec.ready, spec.readyTimeoutMs ?? 30_000, proc);
    } catch (err) {
      let log = '';
      try {
        log = readFileSync(logPath, 'utf8').slice(-2000);
      } catch {}
      await killProc();
      throw new Error(`${(err as Error).message}\n--- ${spec.name} log ---\n${log}`);
    }
  }

  async function killProc() {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.pid === undefined) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    try {
      process.kill(-p.pid, 'SIGCONT');
      process.kill(-p.pid, 'SIGKILL');
    } catch {}
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }

  await launch();
  return {
    url: spec.url,
    port: spec.port,
    dir: spec.dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await killProc();
      rmSync(spec.dir, { recursive: true, force: true });
    },
    kill: killProc,
    restart: launch,
    freeze() {
      if (proc?.pid) process.kill(-proc.pid, 'SIGSTOP');
    },
    thaw() {
      if (proc?.pid) process.kill(-proc.pid, 'SIGCONT');
    },
  };
}

export interface OpaOptions {
  /** Files or directories loaded by `opa run` (policies and data). Default: opa/policies and opa/data. */
  paths?: string[];
  /** Extra `opa run` arguments. */
  args?: string[];
  /** Environment added to OPA's (the Go runtime's GOGC, GOMAXPROCS, GOMEMLIMIT). */
  env?: Record<string, string>;
}

/** Starts `opa run --server` on loopback with the repo's policies (or the given paths). */
export async function startOpa(options: OpaOptions = {}): Promise<Service> {
  const bin = requireOpa();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sark-opa-'));
  const paths = options.paths ?? [join(ROOT, 'opa/policies'), join(ROOT, 'opa/data')];
  const url = `http://127.0.0.1:${port}`;
  return manage({
    name: 'opa',
    dir,
    port,
    url,
    command: bin,
    args: [
      'run',
      '--server',
      '--addr',
      `127.0.0.1:${port}`,
      '--log-level',
      'error',
      '--skip-version-check',
      // As opa/config.yaml recommends: the gateway index's guards read whole documents.
      '--optimize-store-for-read-speed',
      '--ignore',
      '*_test.rego',
      ...(options.args ?? []),
      ...paths,
    ],
    ready: () => httpOk(`${url}/health`),
    ...(options.env ? { env: options.env } : {}),
  });
}

export async function startRedis(): Promise<Service> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sark-redis-'));
  return manage({
    name: 'redis',
    dir,
    port,
    url: `redis://127.0.0.1:${port}`,
    command: 'redis-server',
    args: [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--protected-mode',
      'yes',
    ],
    ready: () => tcpAnswers(port, 'PING\r\n', '+PONG'),
  });
}

/**
 * ClickHouse 18.16 from Debian, without systemd: a private copy of the
 * packaged config with its paths and ports moved into a temporary directory,
 * run as the clickhouse user when we are root (the server refuses otherwise).
 */
export async function startClickHouse(): Promise<Service> {
  const httpPort = await freePort();
  const tcpPort = await freePort();
  const interPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sark-clickhouse-'));
  mkdirSync(join(dir, 'data'), { recursive: true });
  mkdirSync(join(dir, 'log'), { recursive: true });
  cpSync('/etc/clickhouse-server/users.xml', join(dir, 'users.xml'));
  let config = readFileSync('/etc/clickhouse-server/config.xml', 'utf8');
  const set = (tag: string, value: string) => {
    config = config.replace(new RegExp(`<${tag}>[^<]*</${tag}>`, 'g'), `<${tag}>${value}</${tag}>`);
  };
  set('log', join(dir, 'log', 'server.log'));
  set('errorlog', join(dir, 'log', 'server.err.log'));
  set('http_port', String(httpPort));
  set('tcp_port', String(tcpPort));
  set('interserver_http_port', String(interPort));
  set('path', `${join(dir, 'data')}/`);
  set('tmp_path', `${join(dir, 'data', 'tmp')}/`);
  set('user_files_path', `${join(dir, 'data', 'user_files')}/`);
  set('format_schema_path', `${join(dir, 'data', 'format_schemas')}/`);
  config = config.replace(/<listen_host>[^<]*<\/listen_host>/g, '');
  config = config.replace('</yandex>', '<listen_host>127.0.0.1</listen_host></yandex>');
  // The distributed DDL queue path is a ZooKeeper path, not a directory: restore it.
  config = config.replace(
    /(<distributed_ddl>\s*(?:<!--[\s\S]*?-->\s*)*)<path>[^<]*<\/path>/,
    '$1<path>/clickhouse/task_queue/ddl</path>',
  );
  writeFileSync(join(dir, 'config.xml'), config);

  const root = process.getuid?.() === 0;
  if (root) execFileSync('chown', ['-R', 'clickhouse:clickhouse', dir]);
  const server = '/usr/sbin/clickhouse-server';
  const url = `http://127.0.0.1:${httpPort}`;
  return manage({
    name: 'clickhouse',
    dir,
    port: httpPort,
    url,
    command: root ? 'runuser' : server,
    args: root
      ? ['-u', 'clickhouse', '--', server, `--config-file=${join(dir, 'config.xml')}`]
      : [`--config-file=${join(dir, 'config.xml')}`],
    ready: () => httpOk(`${url}/ping`),
    readyTimeoutMs: 60_000,
  });
}
