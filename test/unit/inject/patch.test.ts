/**
 * The injection decision and its JSON Patch, as pure logic: which pods are
 * injected, what is added, that re-invocation changes nothing, and that every
 * bad annotation is refused with a message that names it.
 */
import { describe, expect, it } from 'vitest';
import { type InjectOptions, loadInjectOptions } from '../../../src/inject/options.ts';
import { type JsonPatchOp, planInjection, type SelectionMode } from '../../../src/inject/patch.ts';
import type { Container, Pod } from '../../../src/inject/pod.ts';
import { applyAddPatch } from '../../support/json-patch.ts';

const options: InjectOptions = loadInjectOptions({
  env: {
    SARK_INJECT_TLS_CERT_FILE: '/tls/tls.crt',
    SARK_INJECT_TLS_KEY_FILE: '/tls/tls.key',
    SARK_INJECT_SIDECAR_IMAGE: 'ghcr.io/example/sark:0.1.0',
    SARK_INJECT_OPA_BUNDLE_URL: 'http://sark-bundles.sark-system.svc',
  },
});

function pod(
  over: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
  spec: any = {},
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'files-0',
      labels: { 'sark.io/inject': 'true', 'app.kubernetes.io/name': 'filesystem', ...over.labels },
      ...(over.annotations ? { annotations: over.annotations } : {}),
    },
    spec: {
      containers: [{ name: 'server', image: 'example/mcp:1', ports: [{ name: 'http', containerPort: 3000 }] }],
      ...spec,
    },
  };
}

function injected(p: Pod, mode: SelectionMode = 'pod', ns = 'team-a'): { patch: JsonPatchOp[]; pod: Pod } {
  const plan = planInjection(p, ns, mode, options);
  if (!plan.inject) throw new Error(`not injected: ${plan.reason}`);
  return { patch: plan.patch, pod: applyAddPatch(p, plan.patch) };
}

const byName = (cs: Container[] | undefined, name: string) => cs?.find((c) => c.name === name) as any;
const envOf = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));

function refusal(p: Pod, mode: SelectionMode = 'pod'): string {
  try {
    planInjection(p, 'team-a', mode, options);
  } catch (err: any) {
    expect(err.code).toBe('SARK_INJECT_REFUSED');
    return err.safeMessage;
  }
  throw new Error('expected a refusal');
}

describe('which pods are injected', () => {
  it.each([
    ['pod mode, labelled true', 'pod', { 'sark.io/inject': 'true' }, true],
    ['pod mode, unlabelled', 'pod', {}, 'not_requested'],
    ['namespace mode, unlabelled pod', 'namespace', {}, true],
    ['namespace mode, pod opts out', 'namespace', { 'sark.io/inject': 'false' }, 'opted_out'],
    ['pod mode, labelled false', 'pod', { 'sark.io/inject': 'false' }, 'opted_out'],
  ] as const)('%s', (_name, mode, labels, expected) => {
    const p = pod();
    p.metadata!.labels = { app: 'files', ...labels };
    const plan = planInjection(p, 'team-a', mode, options);
    expect(plan.inject ? true : plan.reason).toBe(expected);
  });

  it('skips the excluded (system) namespaces whatever the labels', () => {
    for (const ns of ['kube-system', 'kube-public', 'kube-node-lease']) {
      expect(planInjection(pod(), ns, 'namespace', options)).toEqual({ inject: false, reason: 'excluded_namespace' });
    }
  });

  it('skips host-network pods: their rules would redirect the node', () => {
    expect(planInjection(pod({}, { hostNetwork: true }), 'team-a', 'pod', options)).toEqual({
      inject: false,
      reason: 'host_network',
    });
  });

  it('refuses a label value other than true/false', () => {
    expect(refusal(pod({ labels: { 'sark.io/inject': 'yes' } }), 'namespace')).toMatch(
      /label sark.io\/inject must be "true" or "false"/,
    );
  });
});

describe('what is injected', () => {
  const { pod: out, patch } = injected(pod());

  it('appends SARK and OPA after the application, which stays the default container', () => {
    expect(out.spec!.containers!.map((c) => c.name)).toEqual(['server', 'sark', 'sark-opa']);
    expect(out.metadata!.annotations!['kubectl.kubernetes.io/default-container']).toBe('server');
  });

  it('adds the iptables init container with the MCP port, SARK port and SARK UID', () => {
    const init = byName(out.spec!.initContainers, 'sark-init');
    expect(init.command).toEqual(['/usr/local/bin/sark-redirect']);
    expect(envOf(init)).toEqual({ SARK_REDIRECT_PORTS: '3000', SARK_PROXY_PORT: '15080', SARK_PROXY_UID: '1337' });
    expect(init.securityContext.capabilities).toEqual({ add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
    expect(init.securityContext.allowPrivilegeEscalation).toBe(false);
  });

  it('hardens SARK: non-root fixed UID, read-only root, no capabilities, admin-port probes, resources', () => {
    const sark = byName(out.spec!.containers, 'sark');
    expect(sark.image).toBe('ghcr.io/example/sark:0.1.0');
    expect(sark.securityContext).toMatchObject({
      runAsUser: 1337,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(sark.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 15090 });
    expect(sark.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 15090 });
    expect(sark.resources).toEqual({ requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } });
    expect(sark.volumeMounts).toEqual([{ name: 'sark-run', mountPath: '/var/run/sark' }]);
  });

  it('points SARK at the server over loopback and at OPA on localhost', () => {
    const env = envOf(byName(out.spec!.containers, 'sark'));
    expect(env).toMatchObject({
      SARK_LISTEN: '0.0.0.0:15080',
      SARK_ADMIN_LISTEN: '0.0.0.0:15090',
      SARK_MCP_PATH: '/mcp',
      SARK_UPSTREAM_URL: 'http://127.0.0.1:3000/mcp',
      SARK_OPA_URL: 'http://127.0.0.1:15181',
      SARK_SERVER_ID: 'filesystem',
      SARK_LOG_LEVEL: 'info',
      SARK_AUDIT_FILE: '/var/run/sark/audit.ndjson',
    });
    expect(env.SARK_PASSTHROUGH_PATHS).toBeUndefined();
  });

  it('runs OPA with the bundle, its API on 127.0.0.1 only, hardened, probed on the diagnostic port', () => {
    const opa = byName(out.spec!.containers, 'sark-opa');
    expect(opa.args).toContain('--addr=127.0.0.1:15181');
    expect(opa.args).toContain('--set=services.sark.url=http://sark-bundles.sark-system.svc');
    expect(opa.args).toContain('--set=bundles.sark.resource=bundles/sark.tar.gz');
    expect(opa.ports).toEqual([{ name: 'sark-opa-diag', containerPort: 15182, protocol: 'TCP' }]);
    expect(opa.readinessProbe.httpGet.port).toBe(15182);
    expect(opa.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
    // Measured: less garbage-collection CPU per uncached decision (loadtest/micro/opa-settings.ts).
    expect(opa.env).toEqual([{ name: 'GOGC', value: '200' }]);
  });

  it('creates the annotations, init containers and volumes when the pod has none', () => {
    expect(patch.map((op) => op.path)).toEqual([
      '/metadata/annotations',
      '/metadata/annotations/sark.io~1status',
      '/metadata/annotations/kubectl.kubernetes.io~1default-container',
      '/spec/initContainers',
      '/spec/containers/-',
      '/spec/containers/-',
      '/spec/volumes',
    ]);
    expect(out.spec!.volumes!.map((v) => v.name)).toEqual(['sark-run', 'sark-init-run']);
    expect(JSON.parse(out.metadata!.annotations!['sark.io/status']!)).toMatchObject({ mcpPort: 3000 });
  });

  it('prepends the init container and appends volumes when the pod has its own', () => {
    const p = pod(
      { annotations: { team: 'a' } },
      { initContainers: [{ name: 'migrate', image: 'm' }], volumes: [{ name: 'data', emptyDir: {} }] },
    );
    const { pod: o, patch: ops } = injected(p);
    expect(o.spec!.initContainers!.map((c) => c.name)).toEqual(['sark-init', 'migrate']);
    expect(o.spec!.volumes!.map((v) => v.name)).toEqual(['data', 'sark-run', 'sark-init-run']);
    expect(ops.some((op) => op.path === '/metadata/annotations')).toBe(false);
    expect(o.metadata!.annotations!.team).toBe('a');
  });

  it('is idempotent: an injected pod is left unchanged, and the plan is deterministic', () => {
    expect(planInjection(out, 'team-a', 'pod', options)).toEqual({ inject: false, reason: 'already_injected' });
    expect(planInjection(pod(), 'team-a', 'pod', options)).toEqual(planInjection(pod(), 'team-a', 'pod', options));
  });

  it('refuses a pod that uses the injected names without being injected', () => {
    const p = pod({}, { containers: [{ name: 'sark', image: 'x', ports: [{ containerPort: 3000 }] }] });
    expect(refusal(p)).toMatch(/names sark are reserved/);
  });
});

describe('the MCP port: named, numbered, several containers', () => {
  const two = (ports: any[][]) => ({
    containers: ports.map((p, i) => ({ name: `c${i}`, image: 'x', ports: p })),
  });
  const upstream = (p: Pod) => envOf(byName(injected(p).pod.spec!.containers, 'sark')).SARK_UPSTREAM_URL;

  it('takes the only TCP port when there is one', () => {
    expect(upstream(pod({}, two([[{ containerPort: 8000 }], [{ containerPort: 53, protocol: 'UDP' }]])))).toBe(
      'http://127.0.0.1:8000/mcp',
    );
  });

  it('takes the port named "mcp" among several', () => {
    const spec = two([[{ name: 'metrics', containerPort: 9100 }], [{ name: 'mcp', containerPort: 7000 }]]);
    expect(upstream(pod({}, spec))).toBe('http://127.0.0.1:7000/mcp');
  });

  it('resolves the annotation by number or by a port name in any container', () => {
    const spec = two([[{ name: 'metrics', containerPort: 9100 }], [{ name: 'api', containerPort: 7000 }]]);
    expect(upstream(pod({ annotations: { 'sark.io/mcp-port': 'api' } }, spec))).toBe('http://127.0.0.1:7000/mcp');
    expect(upstream(pod({ annotations: { 'sark.io/mcp-port': '9100' } }, spec))).toBe('http://127.0.0.1:9100/mcp');
    // A numbered port need not be declared (containerPort is informational in core/v1).
    expect(upstream(pod({ annotations: { 'sark.io/mcp-port': '8123' } }, spec))).toBe('http://127.0.0.1:8123/mcp');
  });

  it('refuses when the port is ambiguous or unknown', () => {
    const spec = two([[{ containerPort: 9100 }], [{ containerPort: 7000 }]]);
    expect(refusal(pod({}, spec))).toMatch(/several TCP ports \(9100, 7000\): set sark.io\/mcp-port/);
    expect(refusal(pod({}, { containers: [{ name: 'c', image: 'x' }] }))).toMatch(/no container declares a TCP port/);
    expect(refusal(pod({ annotations: { 'sark.io/mcp-port': 'nope' } }, spec))).toMatch(
      /no container declares a TCP port named "nope"/,
    );
  });

  it('refuses ports that clash with the sidecar', () => {
    expect(refusal(pod({ annotations: { 'sark.io/mcp-port': '15080' } }))).toMatch(/15080 is the SARK data port/);
    const clash = two([[{ containerPort: 3000 }, { containerPort: 15090 }]]);
    expect(refusal(pod({ annotations: { 'sark.io/mcp-port': '3000' } }, clash))).toMatch(
      /container c0 declares port 15090, which is the SARK admin port/,
    );
  });

  it("refuses a container running as the sidecar's UID (its traffic would bypass the rules)", () => {
    expect(refusal(pod({}, { securityContext: { runAsUser: 1337 } }))).toMatch(/runs as UID 1337/);
    const c = [{ name: 'server', image: 'x', ports: [{ containerPort: 3000 }], securityContext: { runAsUser: 1337 } }];
    expect(refusal(pod({}, { containers: c }))).toMatch(/container server runs as UID 1337/);
  });
});

describe('probes on the MCP port pass through to the server', () => {
  const withProbes = (probes: Record<string, unknown>) =>
    pod(
      {},
      {
        containers: [
          {
            name: 'server',
            image: 'x',
            ports: [
              { name: 'http', containerPort: 3000 },
              { name: 'admin', containerPort: 9000 },
            ],
            ...probes,
          },
        ],
        // two ports: name the MCP one
      },
    );

  it('adds the HTTP probe paths aimed at the MCP port, by number or name, and nothing else', () => {
    const p = withProbes({
      livenessProbe: { httpGet: { path: '/livez', port: 'http' } },
      readinessProbe: { httpGet: { path: '/ready?full=1', port: 3000 } },
      startupProbe: { httpGet: { path: '/started', port: 'admin' } },
    });
    p.metadata!.annotations = { 'sark.io/mcp-port': 'http', 'sark.io/passthrough-paths': '/metrics, /ws/*' };
    const env = envOf(byName(injected(p).pod.spec!.containers, 'sark'));
    expect(env.SARK_PASSTHROUGH_PATHS).toBe('/metrics,/ws/*,/livez,/ready');
  });

  it('refuses an HTTPS probe or a probe of the MCP path on the MCP port', () => {
    const https = withProbes({ livenessProbe: { httpGet: { path: '/h', port: 3000, scheme: 'HTTPS' } } });
    https.metadata!.annotations = { 'sark.io/mcp-port': '3000' };
    expect(refusal(https)).toMatch(/HTTPS probe on the MCP port/);
    const mcp = withProbes({ readinessProbe: { httpGet: { path: '/mcp', port: 3000 } } });
    mcp.metadata!.annotations = { 'sark.io/mcp-port': '3000' };
    expect(refusal(mcp)).toMatch(/probe uses the MCP path \/mcp/);
  });
});

describe('allowed hosts and origins', () => {
  it('fills {serverId} and {namespace} per pod', () => {
    const withHosts = loadInjectOptions({
      env: {
        SARK_INJECT_TLS_CERT_FILE: '/t',
        SARK_INJECT_TLS_KEY_FILE: '/k',
        SARK_INJECT_SIDECAR_IMAGE: 'sark:1',
        SARK_INJECT_OPA_BUNDLE_URL: 'http://b',
        SARK_INJECT_SIDECAR_ALLOWED_HOSTS: '{serverId},{serverId}.{namespace}.svc,localhost',
        SARK_INJECT_SIDECAR_ALLOWED_ORIGINS: 'https://{namespace}.example.com',
      },
    });
    const plan = planInjection(pod(), 'team-a', 'pod', withHosts);
    if (!plan.inject) throw new Error('not injected');
    const env = envOf(byName(applyAddPatch(pod(), plan.patch).spec!.containers, 'sark'));
    expect(env.SARK_ALLOWED_HOSTS).toBe('filesystem,filesystem.team-a.svc,localhost');
    expect(env.SARK_ALLOWED_ORIGINS).toBe('https://team-a.example.com');
  });
});

describe('annotations override the defaults', () => {
  it('MCP path, policy bundle, resources, log level, server id', () => {
    const { pod: out } = injected(
      pod({
        annotations: {
          'sark.io/mcp-path': '/v1/mcp',
          'sark.io/policy-bundle': 'bundles/filesystem.tar.gz',
          'sark.io/resources': '{"requests":{"cpu":"200m","memory":"128Mi"},"limits":{"cpu":"1","memory":"512Mi"}}',
          'sark.io/log-level': 'debug',
          'sark.io/server-id': 'files-prod',
        },
      }),
    );
    const sark = byName(out.spec!.containers, 'sark');
    expect(envOf(sark)).toMatchObject({
      SARK_MCP_PATH: '/v1/mcp',
      SARK_UPSTREAM_URL: 'http://127.0.0.1:3000/v1/mcp',
      SARK_LOG_LEVEL: 'debug',
      SARK_SERVER_ID: 'files-prod',
    });
    expect(sark.resources).toEqual({
      requests: { cpu: '200m', memory: '128Mi' },
      limits: { cpu: '1', memory: '512Mi' },
    });
    expect(byName(out.spec!.containers, 'sark-opa').args).toContain(
      '--set=bundles.sark.resource=bundles/filesystem.tar.gz',
    );
  });

  it.each([
    ['sark.io/mcp-port', '70000', /sark.io\/mcp-port: 70000 is not a port number/],
    ['sark.io/mcp-port', 'Bad_Name', /neither a port number nor a valid port name/],
    ['sark.io/mcp-path', 'mcp', /sark.io\/mcp-path: "mcp" is not an absolute URL path/],
    ['sark.io/policy-bundle', '../secrets.tar.gz', /sark.io\/policy-bundle: .* is not a bundle path/],
    ['sark.io/resources', '{cpu: 1}', /sark.io\/resources: not JSON/],
    [
      'sark.io/resources',
      '{"requests":{"cpu":"lots"}}',
      /sark.io\/resources: requests.cpu: expected a Kubernetes quantity/,
    ],
    ['sark.io/resources', '{"request":{}}', /sark.io\/resources: .*request/],
    ['sark.io/log-level', 'verbose', /sark.io\/log-level: expected one of/],
    ['sark.io/server-id', 'has space', /sark.io\/server-id: expected letters/],
    ['sark.io/passthrough-paths', '/a/../mcp', /sark.io\/passthrough-paths: expected comma-separated absolute paths/],
    ['sark.io/passthrough-paths', '/mcp/*', /would let MCP traffic on \/mcp past SARK/],
    ['sark.io/passthrough-paths', '/*', /expected comma-separated absolute paths/],
    ['sark.io/passthrough-paths', '/mcp', /would let MCP traffic/],
    ['sark.io/mcp-prot', '3000', /unknown annotation sark.io\/mcp-prot/],
  ])('refuses %s: %s', (key, value, message) => {
    expect(refusal(pod({ annotations: { [key]: value } }))).toMatch(message);
  });

  it('the refusal text starts with what refused the pod', () => {
    expect(refusal(pod({ annotations: { 'sark.io/log-level': 'loud' } }))).toMatch(
      /^SARK sidecar injection refused this pod: sark.io\/log-level/,
    );
  });
});
