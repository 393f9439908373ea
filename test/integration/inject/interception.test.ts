/**
 * Transparent interception, for real: two network namespaces joined by a veth
 * pair stand for a client and an injected pod. In the pod namespace run the
 * MCP server on port 3000 and SARK on 15080 under its own UID, and the rules
 * are installed by deploy/iptables/sark-redirect.sh — the script the init
 * container runs. The client dials the server's address and port, as it
 * would a Service, and never learns SARK is there.
 *
 * Proved: an allowed call is answered by the server; a denied one is refused
 * by SARK and never reaches it; a passthrough path and a WebSocket reach it;
 * other paths do not; SARK's own connection to the server (by its UID) is not
 * looped back, while another UID inside the pod is redirected to SARK.
 *
 * Needs root (network namespaces, iptables). Without them the suite is
 * skipped and says why; as root (CI here) it runs.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditFileRows, until } from '../../support/audit-events.ts';
import { ROOT, waitFor } from '../../support/services.ts';

const SCRIPT = join(ROOT, 'deploy/iptables/sark-redirect.sh');
const MAIN = join(ROOT, 'src/cli/main.ts');
const NODE = process.execPath;
const tag = `${process.pid % 100000}`;
const POD_NS = `sark-pod-${tag}`;
const CLIENT_NS = `sark-cli-${tag}`;
// TEST-NET-1 (RFC 5737), only ever inside the two namespaces this test creates.
const POD_IP = '192.0.2.2';
const CLIENT_IP = '192.0.2.1';
const MCP_PORT = 3000;
const SARK_PORT = 15080;

function sh(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Why the suite cannot run here, or undefined when it can. */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: creating network namespaces and iptables rules needs root';
  for (const tool of ['ip', 'iptables', 'setpriv', 'curl']) {
    if (!sh('sh', ['-c', `command -v ${tool}`]).ok) return `${tool} is not installed (scripts/test-env.sh installs it)`;
  }
  const probe = `sark-probe-${tag}`;
  const made = sh('ip', ['netns', 'add', probe]);
  if (!made.ok) return `cannot create a network namespace: ${made.out.trim()}`;
  const nat = sh('ip', ['netns', 'exec', probe, 'iptables', '-t', 'nat', '-S']);
  sh('ip', ['netns', 'del', probe]);
  if (!nat.ok) return `iptables nat table unavailable in a namespace: ${nat.out.trim()}`;
  return undefined;
}

const reason = unavailable();
if (reason) console.warn(`[interception] SKIPPED: ${reason}`);

/**
 * SARK runs under its own UID, as injected (1337). That UID must be able to
 * read the checkout; where it cannot (a checkout under a private home),
 * SARK runs as root instead and root is the exempt UID: the owner match is
 * proved the same way, against a different UID (65534) that is redirected.
 */
function sarkUid(): number {
  const r = spawnSync('setpriv', [
    '--reuid=1337',
    '--regid=1337',
    '--clear-groups',
    NODE,
    '-e',
    `require('fs').accessSync(${JSON.stringify(MAIN)})`,
  ]);
  if (r.status === 0) return 1337;
  console.warn('[interception] UID 1337 cannot read the checkout: SARK runs as UID 0 (the exempt UID) instead');
  return 0;
}

describe.skipIf(reason !== undefined)('transparent interception in network namespaces', () => {
  const procs: ChildProcess[] = [];
  let dir: string;
  let uid: number;
  let result: any;

  const inPod = (args: string[]) => sh('ip', ['netns', 'exec', POD_NS, ...args]);
  const podLog = () =>
    readFileSync(join(dir, 'pod.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));

  function start(name: string, args: string[]): ChildProcess {
    const out = join(dir, `${name}.log`);
    const p = spawn('sh', ['-c', `exec "$@" >>${out} 2>&1`, name, 'ip', 'netns', 'exec', POD_NS, ...args], {
      stdio: 'ignore',
    });
    procs.push(p);
    return p;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sark-netns-'));
    uid = sarkUid();
    chownSync(dir, uid, uid);
    // SARK (its UID) writes its audit here, the server (another UID) its request log.
    chmodSync(dir, 0o777);
    const must = (cmd: string, args: string[]) => {
      const r = sh(cmd, args);
      if (!r.ok) throw new Error(`${cmd} ${args.join(' ')}: ${r.out}`);
    };
    must('ip', ['netns', 'add', POD_NS]);
    must('ip', ['netns', 'add', CLIENT_NS]);
    must('ip', ['link', 'add', `skp${tag}`, 'type', 'veth', 'peer', 'name', `skc${tag}`]);
    must('ip', ['link', 'set', `skp${tag}`, 'netns', POD_NS]);
    must('ip', ['link', 'set', `skc${tag}`, 'netns', CLIENT_NS]);
    for (const [ns, dev, ip] of [
      [POD_NS, `skp${tag}`, POD_IP],
      [CLIENT_NS, `skc${tag}`, CLIENT_IP],
    ] as const) {
      must('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', dev]);
      must('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', dev, 'up']);
      must('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    }

    // What the init container does, with the values the webhook gives it.
    const redirect = spawnSync('ip', ['netns', 'exec', POD_NS, SCRIPT], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        SARK_REDIRECT_PORTS: String(MCP_PORT),
        SARK_PROXY_PORT: String(SARK_PORT),
        SARK_PROXY_UID: String(uid),
      },
    });
    if (redirect.status !== 0) throw new Error(`sark-redirect.sh failed: ${redirect.stderr}`);

    // The application: its own UID (not SARK's), on 0.0.0.0:3000.
    start('server', [
      'setpriv',
      `--reuid=${uid === 0 ? 0 : 1338}`,
      `--regid=${uid === 0 ? 0 : 1338}`,
      '--clear-groups',
      NODE,
      join(ROOT, 'test/support/pod-server.ts'),
      '--host',
      '0.0.0.0',
      '--port',
      String(MCP_PORT),
      '--log',
      join(dir, 'pod.ndjson'),
    ]);
    // The sidecar, as injected: its UID, all interfaces, upstream over loopback, the probe path passed through.
    start('sark', [
      'setpriv',
      `--reuid=${uid}`,
      `--regid=${uid}`,
      '--clear-groups',
      'env',
      `HOME=${dir}`,
      NODE,
      MAIN,
      'serve',
      '--listen',
      `0.0.0.0:${SARK_PORT}`,
      '--admin-listen',
      '127.0.0.1:15090',
      '--upstream-url',
      `http://127.0.0.1:${MCP_PORT}/mcp`,
      '--passthrough-paths',
      '/healthz,/ws',
      '--server-id',
      'demo',
      '--audit-file',
      join(dir, 'audit.ndjson'),
      '--audit-spool-dir',
      join(dir, 'spool'),
      '--log-level',
      'warn',
    ]);
    await waitFor(
      'server and SARK listening',
      async () => {
        const ss = inPod(['ss', '-ltnH']).out;
        return ss.includes(`:${MCP_PORT} `) && ss.includes(`:${SARK_PORT} `);
      },
      30_000,
    );

    const client = spawnSync(
      'ip',
      ['netns', 'exec', CLIENT_NS, NODE, join(ROOT, 'test/support/netns-client.ts'), `http://${POD_IP}:${MCP_PORT}`],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    if (client.status !== 0) {
      const logs = ['sark', 'server'].map(
        (n) => `--- ${n}\n${existsSync(join(dir, `${n}.log`)) ? readFileSync(join(dir, `${n}.log`), 'utf8') : ''}`,
      );
      throw new Error(`client failed: ${client.stderr}\n${logs.join('\n')}`);
    }
    result = JSON.parse(client.stdout);
  }, 90_000);

  afterAll(async () => {
    for (const p of procs) {
      if (p.exitCode === null) p.kill('SIGKILL');
    }
    // `ip netns exec` may have left the child running: kill what still runs in the pod namespace.
    const pids = sh('ip', ['netns', 'pids', POD_NS]).out.split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {}
    }
    sh('ip', ['netns', 'del', POD_NS]);
    sh('ip', ['netns', 'del', CLIENT_NS]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an allowed tool call, sent to the server address and port, is answered by the server through SARK', () => {
    expect(result.allowed.status).toBe(200);
    expect(result.allowed.body.result.content[0].text).toBe('hello from the client namespace');
    const calls = podLog().filter((r) => r.event === 'mcp');
    expect(calls.map((c) => c.tool)).toEqual(['echo']);
    // The server only ever sees SARK, over loopback, never the client's address.
    expect(calls.every((c) => c.peer === '127.0.0.1')).toBe(true);
  });

  it('a denied tool call is refused by SARK and never reaches the server', async () => {
    expect(result.denied.body.error.code).toBe(-32002);
    expect(podLog().some((r) => r.tool === 'delete_file')).toBe(false);
    await until('both decisions audited', () => auditFileRows(join(dir, 'audit.ndjson')).length >= 2);
    const audit = auditFileRows(join(dir, 'audit.ndjson'));
    expect(audit.map((e) => e.decision)).toEqual(['allow', 'deny']);
  });

  it('a passthrough path and a WebSocket reach the server; other paths are refused by SARK', () => {
    expect(result.passthrough).toMatchObject({ status: 200, podServer: 'yes', body: 'pod-server healthy\n' });
    expect(result.websocket).toBe('echo: through SARK');
    expect(result.notAllowed).toMatchObject({ status: 404, sarkError: 'SARK_NOT_FOUND', podServer: null });
    expect(podLog().some((r) => r.path === '/admin/secrets')).toBe(false);
  });

  it('the client reached the server port only through the redirect rule', () => {
    const rules = inPod(['iptables', '-t', 'nat', '-L', 'SARK_INBOUND', '-n', '-v', '-x']).out;
    const line = rules
      .split('\n')
      .find((l) => l.includes(`dpt:${MCP_PORT}`) && l.includes(`redir ports ${SARK_PORT}`))!;
    expect(Number(line.trim().split(/\s+/)[0])).toBeGreaterThan(0);
  });

  it("SARK's own connection is not looped back; another UID inside the pod is redirected to SARK", () => {
    // One decision per client call: had SARK's upstream connection come back to SARK, it would be decided again.
    const audit = auditFileRows(join(dir, 'audit.ndjson'));
    expect(audit).toHaveLength(2);
    const curl = (asUid: number) =>
      inPod([
        'setpriv',
        `--reuid=${asUid}`,
        `--regid=${asUid}`,
        '--clear-groups',
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-D',
        '-',
        `http://127.0.0.1:${MCP_PORT}/admin/secrets`,
      ]).out.toLowerCase();
    // SARK's UID goes straight to the server (its 404 carries x-pod-server) …
    expect(curl(uid)).toContain('x-pod-server: yes');
    // … any other UID in the pod lands on SARK, which refuses the path.
    const other = curl(65534);
    expect(other).toContain('x-sark-error: sark_not_found');
    expect(other).not.toContain('x-pod-server');
  });

  it('re-running the init script leaves one copy of the rules', () => {
    const again = spawnSync('ip', ['netns', 'exec', POD_NS, SCRIPT], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        SARK_REDIRECT_PORTS: String(MCP_PORT),
        SARK_PROXY_PORT: String(SARK_PORT),
        SARK_PROXY_UID: String(uid),
      },
    });
    expect(again.status).toBe(0);
    const rules = inPod(['iptables', '-t', 'nat', '-S']).out;
    expect(rules.match(/-A PREROUTING -p tcp -j SARK_INBOUND/g)).toHaveLength(1);
    expect(rules.match(/-A OUTPUT -p tcp -j SARK_OUTPUT/g)).toHaveLength(1);
    expect(rules.match(/--uid-owner/g)).toHaveLength(1);
  });
});
