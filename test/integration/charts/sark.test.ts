/**
 * The Helm chart: documented and typed values, `helm lint`, `helm template`
 * with the value sets in charts/sark/ci, and every rendered Kubernetes object
 * applied to a real kube-apiserver with `kubectl apply --dry-run=server
 * --validate=strict` (the server's own schemas, unknown fields refused,
 * admission run). cert-manager objects are checked statically: their CRDs
 * are not installed here. deploy/k8s is applied for real.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { OPA_GOGC_DEFAULT } from '../../../src/inject/options.ts';
import {
  type ControlPlane,
  controlPlaneMissing,
  helmBinary,
  KUBE_VERSION,
  startControlPlane,
} from '../../support/kube.ts';
import { ROOT } from '../../support/services.ts';

const CHART = join(ROOT, 'charts/sark');
const NS = 'sark-system';
/** Helm built by `go install` defaults to Kubernetes 1.20 for offline rendering: say which server we render for. */
const KUBE = ['--kube-version', KUBE_VERSION];
const missing = helmBinary() ? controlPlaneMissing() : 'helm is not built: run scripts/test-env.sh';
if (missing) console.warn(`[chart] SKIPPED: ${missing}`);

function helm(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(helmBinary()!, args, {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: '/tmp' },
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function render(valuesFile: string, extra: string[] = []): any[] {
  const r = helm([
    'template',
    'sark',
    CHART,
    '-n',
    NS,
    ...KUBE,
    '--skip-tests',
    '-f',
    join(CHART, 'ci', valuesFile),
    ...extra,
  ]);
  if (r.status !== 0) throw new Error(`helm template ${valuesFile}: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS())
    .filter((o) => o);
}

const kinds = (objects: any[]) => objects.map((o) => o.kind).sort();
const find = (objects: any[], kind: string) => objects.find((o) => o.kind === kind);
const envOf = (deployment: any) =>
  Object.fromEntries(deployment.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));

describe('charts/sark values', () => {
  const text = readFileSync(join(CHART, 'values.yaml'), 'utf8');
  const values = parse(text);
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
  const leaves: string[] = [];
  const walk = (node: any, path: string[]) => {
    if (node && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length > 0) {
      for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
    } else {
      leaves.push(path.join('.'));
    }
  };
  walk(values, []);

  it('documents every value with a ## @param line (Bitnami readme-generator)', () => {
    const documented = new Set([...text.matchAll(/^\s*## @param (\S+)/gm)].map((m) => m[1]));
    expect(leaves.filter((l) => !documented.has(l))).toEqual([]);
    expect([...documented].filter((d) => !leaves.includes(d!))).toEqual([]);
  });

  it('types every value in values.schema.json, and nothing else', () => {
    const untyped = leaves.filter((leaf) => {
      let node = schema;
      for (const key of leaf.split('.')) {
        node = node?.properties?.[key];
        if (!node) return true;
      }
      return false;
    });
    expect(untyped).toEqual([]);
  });
});

describe.skipIf(missing !== undefined)('charts/sark with Helm and a real API server', () => {
  let cp: ControlPlane;
  const valueSets = readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('-values.yaml'));

  beforeAll(async () => {
    cp = await startControlPlane();
    cp.kubectlOk(['create', 'namespace', NS]);
    // No controller-manager: the service account pods default to.
    cp.kubectlOk(['create', 'serviceaccount', 'default', '-n', NS]);
  }, 120_000);
  afterAll(async () => {
    await cp?.stop();
  });

  it('helm lint passes for every value set, strictly', () => {
    for (const f of valueSets) {
      const r = helm(['lint', CHART, '--strict', '-n', NS, ...KUBE, '-f', join(CHART, 'ci', f)]);
      expect(r.status, `${f}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it.each(valueSets)('%s: every rendered object is accepted by the API server (dry-run=server, strict)', (file) => {
    const objects = render(file);
    const core = objects.filter((o) => !o.apiVersion.startsWith('cert-manager.io/'));
    const r = cp.kubectl(
      ['apply', '--dry-run=server', '--validate=strict', '-n', NS, '-f', '-'],
      core.map((o) => JSON.stringify(o)).join('\n'),
    );
    expect(r.stderr, file).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(core.length);
    // The helm test pod (rendered for `helm test`) runs as the chart's ServiceAccount: create that for real.
    for (const sa of core.filter((o) => o.kind === 'ServiceAccount'))
      cp.kubectlOk(['apply', '-f', '-'], JSON.stringify(sa));
    const hooks = helm([
      'template',
      'sark',
      CHART,
      '-n',
      NS,
      ...KUBE,
      '-f',
      join(CHART, 'ci', file),
      '--show-only',
      'templates/tests/test-connection.yaml',
    ]);
    const t = cp.kubectl(['apply', '--dry-run=server', '--validate=strict', '-n', NS, '-f', '-'], hooks.stdout);
    expect(t.stderr, file).toBe('');
  });

  it('default values: Deployment with 2 replicas, PDB, anti-affinity, Service, generated TLS, webhook, RBAC', () => {
    const objects = render('default-values.yaml');
    expect(kinds(objects)).toEqual([
      'ConfigMap',
      'Deployment',
      'MutatingWebhookConfiguration',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Secret',
      'Service',
      'ServiceAccount',
    ]);
    const deployment = find(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(2);
    expect(
      deployment.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution,
    ).toHaveLength(1);
    expect(deployment.spec.template.metadata.labels['sark.io/inject']).toBe('false');
    const env = envOf(deployment);
    expect(env.SARK_INJECT_EXCLUDE_NAMESPACES).toBe('kube-system,kube-public,kube-node-lease,sark-system');
    expect(env.SARK_INJECT_SIDECAR_IMAGE).toBe('ghcr.io/sark/sark:0.1.0');
    expect(env.SARK_INJECT_OPA_GOGC).toBe(String(OPA_GOGC_DEFAULT));
    expect(find(objects, 'PodDisruptionBudget').spec.minAvailable).toBe(1);

    const secret = find(objects, 'Secret');
    const mwc = find(objects, 'MutatingWebhookConfiguration');
    expect(mwc.webhooks.map((w: any) => w.name)).toEqual(['pod.inject.sark.io', 'namespace.inject.sark.io']);
    for (const w of mwc.webhooks) {
      expect(w.failurePolicy).toBe('Fail');
      expect(w.sideEffects).toBe('None');
      expect(w.caBundle ?? w.clientConfig.caBundle).toBe(secret.data['ca.crt']);
      expect(w.clientConfig.service).toMatchObject({ name: 'sark', namespace: NS, port: 443 });
    }
    // The serving certificate names the Service as the API server dials it.
    const pem = Buffer.from(secret.data['tls.crt'], 'base64').toString();
    expect(new X509Certificate(pem).subjectAltName).toContain(`DNS:sark.${NS}.svc`);
  });

  it('cert-manager: Certificate and Issuer instead of a generated Secret, CA injected by annotation', () => {
    const objects = render('cert-manager-values.yaml');
    expect(find(objects, 'Secret')).toBeUndefined();
    const cert = find(objects, 'Certificate');
    expect(cert.apiVersion).toBe('cert-manager.io/v1');
    expect(cert.spec.secretName).toBe('sark-tls');
    expect(cert.spec.dnsNames).toContain(`sark.${NS}.svc`);
    expect(cert.spec.issuerRef).toEqual({ name: 'sark-selfsigned', kind: 'Issuer', group: 'cert-manager.io' });
    expect(find(objects, 'Issuer').spec).toEqual({ selfSigned: {} });
    const mwc = find(objects, 'MutatingWebhookConfiguration');
    expect(mwc.metadata.annotations['cert-manager.io/inject-ca-from']).toBe(`${NS}/sark-tls`);
    expect(mwc.webhooks[0].clientConfig.caBundle).toBeUndefined();
  });

  it('full values: sidecar, OPA, Redis, ClickHouse and SIEM settings reach the webhook', () => {
    const objects = render('full-values.yaml');
    const deployment = find(objects, 'Deployment');
    const env = envOf(deployment);
    expect(env).toMatchObject({
      SARK_INJECT_SIDECAR_IMAGE:
        'registry.internal.example/security/sark@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      SARK_INJECT_OPA_IMAGE: 'registry.internal.example/openpolicyagent/opa:1.22.2-static',
      SARK_INJECT_SIDECAR_UID: '2337',
      SARK_INJECT_SIDECAR_PORT: '16080',
      SARK_INJECT_PASSTHROUGH_PATHS: '/metrics,/static/*',
      SARK_INJECT_SIDECAR_SECRET_NAME: 'sark-sidecar-secrets',
      SARK_INJECT_SIDECAR_ALLOWED_ORIGINS: 'https://agents.example.com',
      SARK_INJECT_EXCLUDE_NAMESPACES: 'kube-system,kube-public,kube-node-lease,monitoring,sark-system',
    });
    expect(JSON.parse(env.SARK_INJECT_SIDECAR_RESOURCES)).toEqual({
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { cpu: '1', memory: '512Mi' },
    });
    const sidecarEnv = JSON.parse(find(objects, 'ConfigMap').data['sidecar-env.json']);
    expect(sidecarEnv).toEqual({
      SARK_REDIS_URL: 'rediss://redis.example.internal:6380',
      SARK_REDIS_MODE: 'sentinel',
      SARK_REDIS_NODES: 'sentinel-0.redis:26379,sentinel-1.redis:26379',
      SARK_AUDIT_CLICKHOUSE_URL: 'https://clickhouse.example.internal:8443',
      SARK_AUDIT_CLICKHOUSE_DATABASE: 'audit',
      SARK_AUDIT_CLICKHOUSE_USER: 'sark_writer',
      SARK_SPLUNK_HEC_URL: 'https://splunk.example.internal:8088',
      SARK_SPLUNK_INDEX: 'mcp_audit',
      SARK_DATADOG_SITE: 'datadoghq.eu',
      SARK_DATADOG_TAGS: 'env:prod,team:platform',
      SARK_OPA_TIMEOUT_MS: '40',
      SARK_AUDIT_BATCH_SIZE: '5000',
    });
    const spec = deployment.spec.template.spec;
    expect(spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    expect(spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(find(objects, 'MutatingWebhookConfiguration').webhooks[0].failurePolicy).toBe('Ignore');
    expect(find(objects, 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: 1 });
    expect(find(objects, 'Role').rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]);
  });

  it.each([
    [['--set', 'opa.bundle.serviceUrl='], /opa.bundle.serviceUrl: set the bundle service/],
    [['--set', 'webhook.failurePolicy=Maybe'], /failurePolicy/],
    [
      ['--set', 'tls.certManager.enabled=true', '--set', 'tls.existingSecret=x'],
      /choose tls.certManager.enabled or tls.existingSecret/,
    ],
    [['--set', 'sidecar.ports.admin=15080'], /must all differ/],
    [['--set', 'sidecar.uid=0'], /uid/],
    [['--set', 'webhook.replicaCount=1'], /a node drain would block/],
    [['--set', 'sidecar.passthroughPaths[0]=/a/../mcp'], /passthroughPaths/],
    [['--set', 'noSuchValue=1'], /noSuchValue/],
  ])('refuses bad values at render time: %j', (args, message) => {
    const r = helm([
      'template',
      'sark',
      CHART,
      '-n',
      NS,
      ...KUBE,
      '-f',
      join(CHART, 'ci/default-values.yaml'),
      ...args,
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it('deploy/k8s: the example manifests are accepted by the API server', () => {
    for (const file of ['mcp-demo.yaml', 'bundle-server.yaml']) {
      const text = readFileSync(join(ROOT, 'deploy/k8s', file), 'utf8');
      const objects = parseAllDocuments(text)
        .map((d) => d.toJS())
        .filter((o) => o);
      // Namespaces for real (the others live in them), the rest as a server-side dry run.
      for (const ns of objects.filter((o) => o.kind === 'Namespace'))
        cp.kubectlOk(['apply', '-f', '-'], JSON.stringify(ns));
      const rest = objects
        .filter((o) => o.kind !== 'Namespace')
        .map((o) => JSON.stringify(o))
        .join('\n');
      const r = cp.kubectl(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], rest);
      expect(r.stderr, file).toBe('');
      expect(r.status).toBe(0);
    }
  });
});
