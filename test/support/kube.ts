/**
 * A real Kubernetes control plane for admission tests: etcd (apt) and
 * kube-apiserver (built once per machine by scripts/test-env.sh) on loopback
 * ephemeral ports, a static admin token, RBAC on, and kubectl pointed at it
 * through a private kubeconfig. No scheduler, controller-manager or kubelet:
 * pods are admitted and stored, never run — which is exactly the path an
 * admission webhook is on.
 *
 * Also: the Helm binary (same cache), and an openssl-made CA and serving
 * certificate for a webhook on 127.0.0.1.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './services.ts';

const TOOLS =
  process.env.SARK_TOOLS_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sark', 'bin');
export const KUBE_VERSION = process.env.SARK_KUBE_VERSION ?? 'v1.37.2';
export const HELM_VERSION = process.env.SARK_HELM_VERSION ?? 'v3.22.0';

export function kubeApiserverBinary(): string | undefined {
  const bin = join(TOOLS, `kube-apiserver-${KUBE_VERSION}`, 'kube-apiserver');
  return existsSync(bin) ? bin : undefined;
}

export function helmBinary(): string | undefined {
  const bin = process.env.SARK_HELM_BIN ?? join(TOOLS, `helm-${HELM_VERSION}`, 'helm');
  return existsSync(bin) ? bin : undefined;
}

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** What is missing to run a control plane here (scripts/test-env.sh installs all of it), or undefined. */
export function controlPlaneMissing(): string | undefined {
  if (!kubeApiserverBinary()) return `kube-apiserver ${KUBE_VERSION} is not built: run scripts/test-env.sh`;
  for (const tool of ['etcd', 'kubectl', 'openssl']) if (!onPath(tool)) return `${tool} is not installed`;
  return undefined;
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

export interface ControlPlane {
  readonly url: string;
  readonly kubeconfig: string;
  readonly dir: string;
  kubectl(args: string[], input?: string): Run;
  /** kubectl, throwing with its stderr on a non-zero exit. */
  kubectlOk(args: string[], input?: string): string;
  stop(): Promise<void>;
}

function kill(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.pid === undefined) return Promise.resolve();
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  try {
    process.kill(-p.pid, 'SIGKILL');
  } catch {}
  return Promise.race([exited, new Promise<void>((r) => setTimeout(r, 5000))]);
}

function healthy(url: string, token?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { rejectUnauthorized: false, headers: token ? { authorization: `Bearer ${token}` } : {}, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function startControlPlane(): Promise<ControlPlane> {
  const bin = kubeApiserverBinary();
  if (!bin) throw new Error(`kube-apiserver ${KUBE_VERSION} not found: run scripts/test-env.sh`);
  const dir = mkdtempSync(join(tmpdir(), 'sark-kube-'));
  const procs: ChildProcess[] = [];
  const launch = (name: string, cmd: string, args: string[]) => {
    const out = openSync(join(dir, `${name}.log`), 'a');
    const p = spawn(cmd, args, { cwd: dir, detached: true, stdio: ['ignore', out, out] });
    procs.push(p);
    return p;
  };
  const logTail = (name: string) => {
    try {
      return readFileSync(join(dir, `${name}.log`), 'utf8').slice(-3000);
    } catch {
      return '';
    }
  };

  try {
    const etcdPort = await freePort();
    const peerPort = await freePort();
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = launch('etcd', 'etcd', [
      '--name',
      'sark-test',
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      etcdUrl,
      '--advertise-client-urls',
      etcdUrl,
      '--listen-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-cluster',
      `sark-test=http://127.0.0.1:${peerPort}`,
      '--log-level',
      'error',
    ]);
    await waitFor(
      'etcd',
      async () => (await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(1000) })).ok,
      30_000,
      etcd,
    );

    // Service-account token signing keys, and one admin token in system:masters.
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const token = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);
    mkdirSync(join(dir, 'certs'));

    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const apiserver = launch('kube-apiserver', bin, [
      `--etcd-servers=${etcdUrl}`,
      `--secure-port=${port}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      // No kubelet or proxy here: nothing would use the kubernetes Service's endpoints.
      '--endpoint-reconciler-type=none',
      `--cert-dir=${join(dir, 'certs')}`,
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=Node,RBAC',
      // An allocation range for Service objects only: no traffic is ever sent there.
      '--service-cluster-ip-range=10.96.0.0/16',
      '--enable-priority-and-fairness=false',
      '--v=0',
    ]);
    await waitFor('kube-apiserver', () => healthy(`${url}/readyz`, token), 90_000, apiserver);

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        '  cluster:',
        `    server: ${url}`,
        '    insecure-skip-tls-verify: true',
        'users:',
        '- name: admin',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: test',
        '  context: {cluster: test, user: admin}',
        'current-context: test',
        '',
      ].join('\n'),
    );

    const kubectl = (args: string[], input?: string): Run => {
      const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], {
        input,
        encoding: 'utf8',
        timeout: 60_000,
        env: { PATH: process.env.PATH, HOME: dir },
      });
      return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    };
    const kubectlOk = (args: string[], input?: string) => {
      const r = kubectl(args, input);
      if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed:\n${r.stderr}`);
      return r.stdout;
    };
    // The namespaces the API server creates at start (no controller-manager runs).
    await waitFor('default namespace', async () => kubectl(['get', 'namespace', 'default']).status === 0, 30_000);

    return {
      url,
      kubeconfig,
      dir,
      kubectl,
      kubectlOk,
      async stop() {
        for (const p of procs.reverse()) await kill(p);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    const logs = `--- etcd\n${logTail('etcd')}\n--- kube-apiserver\n${logTail('kube-apiserver')}`;
    for (const p of procs.reverse()) await kill(p);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${logs}`);
  }
}

/** A CA and a serving certificate for 127.0.0.1 (and localhost), made with openssl. */
export function webhookCertificates(dir: string): { caPem: string; certFile: string; keyFile: string } {
  const ca = join(dir, 'ca');
  const leaf = join(dir, 'webhook');
  const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'].concat([
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.crt`,
      '-subj',
      '/CN=sark-test-ca',
    ]),
  );
  ssl(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${leaf}.key`].concat([
      '-out',
      `${leaf}.csr`,
      '-subj',
      '/CN=sark-webhook',
    ]),
  );
  writeFileSync(`${leaf}.ext`, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  ssl(
    ['x509', '-req', '-in', `${leaf}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial'].concat([
      '-days',
      '2',
      '-out',
      `${leaf}.crt`,
      '-extfile',
      `${leaf}.ext`,
    ]),
  );
  return { caPem: readFileSync(`${ca}.crt`, 'utf8'), certFile: `${leaf}.crt`, keyFile: `${leaf}.key` };
}
