/**
 * The webhook against a real kube-apiserver on a real etcd. The chart's own
 * MutatingWebhookConfiguration (helm template) is registered, its Service
 * reference swapped for the webhook's loopback URL and CA bundle (no kubelet
 * or kube-proxy runs here to route to a Service). Pods are created with
 * kubectl and the specs the API server stored are checked: the admission
 * path exactly as a cluster runs it, including the webhook being down.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  type ControlPlane,
  controlPlaneMissing,
  helmBinary,
  KUBE_VERSION,
  startControlPlane,
  webhookCertificates,
} from '../../support/kube.ts';
import { freePort, ROOT, waitFor } from '../../support/services.ts';

const missing = controlPlaneMissing() ?? (helmBinary() ? undefined : 'helm is not built: run scripts/test-env.sh');
if (missing) console.warn(`[webhook] SKIPPED: ${missing}`);

const SIDECAR_IMAGE = 'ghcr.io/sark/sark:0.1.0';

describe.skipIf(missing !== undefined)('sark inject against a real API server', () => {
  let cp: ControlPlane;
  let webhook: ChildProcess | undefined;
  let webhookUrl: string;
  let dir: string;
  let mwc: any;
  let env: NodeJS.ProcessEnv;
  let ca: string;

  /**
   * `sark inject` as its own process, as the chart runs it (kubectl is run
   * synchronously here, so the webhook cannot share the test's event loop).
   */
  const startWebhook = async () => {
    const p = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'inject'], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    webhook = p;
    await waitFor(
      `sark inject (${stderr})`,
      () =>
        new Promise<boolean>((resolve) => {
          const req = httpsRequest(`${webhookUrl}/healthz`, { ca, timeout: 1000 }, (res) => {
            res.resume();
            resolve(res.statusCode === 200);
          });
          req.on('error', () => resolve(false));
          req.end();
        }),
      20_000,
      p,
    );
  };
  const stopWebhook = async () => {
    const p = webhook;
    webhook = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  };

  function podManifest(name: string, over: { labels?: object; annotations?: object; spec?: object } = {}) {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels: { 'app.kubernetes.io/name': 'filesystem', ...over.labels },
        ...(over.annotations ? { annotations: over.annotations } : {}),
      },
      spec: {
        containers: [{ name: 'server', image: 'example/mcp-server:1', ports: [{ name: 'http', containerPort: 3000 }] }],
        ...over.spec,
      },
    });
  }
  const create = (ns: string, manifest: string, extra: string[] = []) =>
    cp.kubectl(['create', '-n', ns, '-f', '-', ...extra], manifest);
  const stored = (ns: string, name: string) => JSON.parse(cp.kubectlOk(['get', 'pod', '-n', ns, name, '-o', 'json']));
  const names = (list: { name: string }[] | undefined) => (list ?? []).map((c) => c.name);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sark-webhook-'));
    cp = await startControlPlane();
    const certs = webhookCertificates(dir);
    ca = certs.caPem;
    const port = await freePort();
    webhookUrl = `https://127.0.0.1:${port}`;
    env = {
      SARK_INJECT_LISTEN: `127.0.0.1:${port}`,
      SARK_INJECT_TLS_CERT_FILE: certs.certFile,
      SARK_INJECT_TLS_KEY_FILE: certs.keyFile,
      SARK_INJECT_SIDECAR_IMAGE: SIDECAR_IMAGE,
      SARK_INJECT_OPA_BUNDLE_URL: 'http://sark-bundles.sark-system.svc',
      SARK_INJECT_EXCLUDE_NAMESPACES: 'kube-system,kube-public,kube-node-lease,sark-system',
      SARK_INJECT_LOG_LEVEL: 'warn',
    };
    await startWebhook();

    // The chart's webhook configuration, pointed at this webhook.
    const rendered = execFileSync(
      helmBinary()!,
      [
        'template',
        'sark',
        join(ROOT, 'charts/sark'),
        '-n',
        'sark-system',
        '--kube-version',
        KUBE_VERSION,
        '--set',
        'opa.bundle.serviceUrl=http://b',
        '--show-only',
        'templates/webhook.yaml',
      ],
      { encoding: 'utf8' },
    );
    mwc = parseAllDocuments(rendered)
      .map((d) => d.toJS())
      .find((o) => o?.kind === 'MutatingWebhookConfiguration');
    for (const w of mwc.webhooks) {
      w.clientConfig = {
        url: `${webhookUrl}${w.clientConfig.service.path}`,
        caBundle: Buffer.from(certs.caPem).toString('base64'),
      };
    }
    cp.kubectlOk(['apply', '-f', '-'], JSON.stringify(mwc));

    for (const [ns, labels] of [
      ['sark-system', {}],
      ['team-plain', {}],
      ['team-labelled', { 'sark.io/inject': 'true' }],
    ] as const) {
      cp.kubectlOk(
        ['apply', '-f', '-'],
        JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } }),
      );
    }
    // No controller-manager: create the service accounts pods default to.
    for (const ns of ['sark-system', 'team-plain', 'team-labelled', 'kube-system']) {
      cp.kubectl(['create', 'serviceaccount', 'default', '-n', ns]);
    }
  }, 120_000);

  afterAll(async () => {
    await stopWebhook();
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('leaves an unlabelled pod alone', () => {
    expect(create('team-plain', podManifest('plain')).status).toBe(0);
    const pod = stored('team-plain', 'plain');
    expect(names(pod.spec.containers)).toEqual(['server']);
    expect(pod.spec.initContainers).toBeUndefined();
  });

  it('injects a pod labelled sark.io/inject=true: init container, SARK and OPA, as stored by the API server', () => {
    const r = create('team-plain', podManifest('labelled', { labels: { 'sark.io/inject': 'true' } }));
    expect(r.stderr).toBe('');
    const pod = stored('team-plain', 'labelled');
    expect(names(pod.spec.initContainers)).toEqual(['sark-init']);
    expect(names(pod.spec.containers)).toEqual(['server', 'sark', 'sark-opa']);
    expect(names(pod.spec.volumes).filter((n: string) => n.startsWith('sark-'))).toEqual(['sark-run', 'sark-init-run']);
    const sark = pod.spec.containers[1];
    expect(sark.image).toBe(SIDECAR_IMAGE);
    expect(sark.securityContext).toMatchObject({ runAsUser: 1337, runAsNonRoot: true, readOnlyRootFilesystem: true });
    expect(sark.env.find((e: any) => e.name === 'SARK_UPSTREAM_URL').value).toBe('http://127.0.0.1:3000/mcp');
    const init = pod.spec.initContainers[0];
    expect(init.securityContext.capabilities.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(JSON.parse(pod.metadata.annotations['sark.io/status'])).toMatchObject({ mcpPort: 3000 });
    expect(pod.metadata.annotations['kubectl.kubernetes.io/default-container']).toBe('server');
  });

  it('injects every pod of a labelled namespace, except one labelled sark.io/inject=false', () => {
    expect(create('team-labelled', podManifest('by-namespace')).status).toBe(0);
    expect(names(stored('team-labelled', 'by-namespace').spec.containers)).toEqual(['server', 'sark', 'sark-opa']);
    expect(create('team-labelled', podManifest('opted-out', { labels: { 'sark.io/inject': 'false' } })).status).toBe(0);
    expect(names(stored('team-labelled', 'opted-out').spec.containers)).toEqual(['server']);
  });

  it('never injects system namespaces or the release namespace, nor host-network pods', () => {
    for (const ns of ['kube-system', 'sark-system']) {
      expect(create(ns, podManifest('system', { labels: { 'sark.io/inject': 'true' } })).status).toBe(0);
      expect(names(stored(ns, 'system').spec.containers)).toEqual(['server']);
    }
    const host = podManifest('host-net', { labels: { 'sark.io/inject': 'true' }, spec: { hostNetwork: true } });
    expect(create('team-plain', host).status).toBe(0);
    expect(names(stored('team-plain', 'host-net').spec.containers)).toEqual(['server']);
  });

  it('resolves a named port across several containers and applies the annotations', () => {
    const manifest = podManifest('multi', {
      labels: { 'sark.io/inject': 'true' },
      annotations: { 'sark.io/mcp-port': 'mcp-api', 'sark.io/mcp-path': '/rpc', 'sark.io/log-level': 'debug' },
      spec: {
        containers: [
          { name: 'metrics', image: 'example/exporter:1', ports: [{ name: 'metrics', containerPort: 9100 }] },
          {
            name: 'server',
            image: 'example/mcp-server:1',
            ports: [{ name: 'mcp-api', containerPort: 8000 }],
            readinessProbe: { httpGet: { path: '/ready', port: 'mcp-api' } },
          },
        ],
      },
    });
    expect(create('team-plain', manifest).stderr).toBe('');
    const pod = stored('team-plain', 'multi');
    expect(names(pod.spec.containers)).toEqual(['metrics', 'server', 'sark', 'sark-opa']);
    const env = Object.fromEntries(pod.spec.containers[2].env.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({
      SARK_UPSTREAM_URL: 'http://127.0.0.1:8000/rpc',
      SARK_MCP_PATH: '/rpc',
      SARK_LOG_LEVEL: 'debug',
      SARK_PASSTHROUGH_PATHS: '/ready',
    });
    expect(pod.spec.initContainers[0].env.find((e: any) => e.name === 'SARK_REDIRECT_PORTS').value).toBe('8000');
  });

  it('refuses a bad annotation with a message that names it', () => {
    const r = create(
      'team-plain',
      podManifest('bad', { labels: { 'sark.io/inject': 'true' }, annotations: { 'sark.io/mcp-port': 'none_such' } }),
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('admission webhook "pod.inject.sark.io" denied the request');
    expect(r.stderr).toContain('sark.io/mcp-port: "none_such" is neither a port number nor a valid port name');
    expect(cp.kubectl(['get', 'pod', '-n', 'team-plain', 'bad']).status).not.toBe(0);
  });

  it('is idempotent: a pod submitted with its injected spec is stored unchanged', () => {
    const injected = stored('team-plain', 'labelled');
    const again = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'resubmitted', labels: injected.metadata.labels, annotations: injected.metadata.annotations },
      spec: injected.spec,
    };
    delete again.spec.nodeName;
    expect(create('team-plain', JSON.stringify(again)).stderr).toBe('');
    const pod = stored('team-plain', 'resubmitted');
    expect(names(pod.spec.containers)).toEqual(['server', 'sark', 'sark-opa']);
    expect(names(pod.spec.initContainers)).toEqual(['sark-init']);
  });

  it('is called for server-side dry runs too (sideEffects: None)', () => {
    const out = create('team-plain', podManifest('dry', { labels: { 'sark.io/inject': 'true' } }), [
      '--dry-run=server',
      '-o',
      'json',
    ]);
    expect(out.status).toBe(0);
    expect(names(JSON.parse(out.stdout).spec.containers)).toEqual(['server', 'sark', 'sark-opa']);
  });

  it('deploy/k8s/mcp-demo.yaml: a pod of the example Deployment is injected in the labelled namespace', () => {
    const objects = parseAllDocuments(readFileSync(join(ROOT, 'deploy/k8s/mcp-demo.yaml'), 'utf8')).map((d) =>
      d.toJS(),
    );
    cp.kubectlOk(['apply', '-f', '-'], JSON.stringify(objects.find((o) => o.kind === 'Namespace')));
    cp.kubectl(['create', 'serviceaccount', 'default', '-n', 'mcp-demo']);
    // No controller-manager: make the pod the ReplicaSet would make from the template.
    const template = objects.find((o) => o.kind === 'Deployment').spec.template;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { ...template.metadata, name: 'demo-0' },
      spec: template.spec,
    };
    expect(create('mcp-demo', JSON.stringify(pod)).stderr).toBe('');
    const stored_ = stored('mcp-demo', 'demo-0');
    expect(names(stored_.spec.containers)).toEqual(['server', 'sark', 'sark-opa']);
    const env = Object.fromEntries(stored_.spec.containers[1].env.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({ SARK_SERVER_ID: 'demo', SARK_UPSTREAM_URL: 'http://127.0.0.1:3000/mcp' });
  });

  describe('while the webhook is down', () => {
    beforeAll(stopWebhook);

    it('failurePolicy Fail (the chart default): a pod that asked for SARK is refused; others are admitted', () => {
      expect(mwc.webhooks.every((w: any) => w.failurePolicy === 'Fail')).toBe(true);
      const r = create('team-plain', podManifest('down-labelled', { labels: { 'sark.io/inject': 'true' } }));
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/failed calling webhook "pod.inject.sark.io"/);
      expect(create('team-labelled', podManifest('down-ns')).stderr).toMatch(
        /failed calling webhook "namespace.inject.sark.io"/,
      );
      expect(create('team-plain', podManifest('down-plain')).status).toBe(0);
      expect(create('kube-system', podManifest('down-system', { labels: { 'sark.io/inject': 'true' } })).status).toBe(
        0,
      );
    });

    it('failurePolicy Ignore: the pod starts without the sidecar (unenforced)', () => {
      const ignore = structuredClone(mwc);
      for (const w of ignore.webhooks) w.failurePolicy = 'Ignore';
      cp.kubectlOk(['apply', '-f', '-'], JSON.stringify(ignore));
      expect(create('team-plain', podManifest('down-ignored', { labels: { 'sark.io/inject': 'true' } })).status).toBe(
        0,
      );
      expect(names(stored('team-plain', 'down-ignored').spec.containers)).toEqual(['server']);
      cp.kubectlOk(['apply', '-f', '-'], JSON.stringify(mwc));
    });

    it('back up on the same address: injection resumes', async () => {
      await startWebhook();
      expect(create('team-plain', podManifest('back-up', { labels: { 'sark.io/inject': 'true' } })).stderr).toBe('');
      expect(names(stored('team-plain', 'back-up').spec.containers)).toEqual(['server', 'sark', 'sark-opa']);
    });
  });
});
