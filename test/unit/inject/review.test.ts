/**
 * AdmissionReview v1 in and out, and the webhook's options: the response
 * echoes the uid, carries a base64 JSONPatch or a refusal with its message,
 * and anything unexpected refuses the pod (fail closed).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInjectOptions } from '../../../src/inject/options.ts';
import { answerReview, MalformedReview } from '../../../src/inject/review.ts';

const env = {
  SARK_INJECT_TLS_CERT_FILE: '/tls/tls.crt',
  SARK_INJECT_TLS_KEY_FILE: '/tls/tls.key',
  SARK_INJECT_SIDECAR_IMAGE: 'ghcr.io/example/sark:0.1.0',
  SARK_INJECT_OPA_BUNDLE_URL: 'http://bundles.example',
};
const options = loadInjectOptions({ env });

function review(object: unknown, over: Record<string, unknown> = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'b4f1c2d3-0000-4000-8000-000000000001',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'team-a',
      operation: 'CREATE',
      object,
      ...over,
    },
  };
}

const labelled = (annotations: Record<string, string> = {}) => ({
  metadata: { name: 'p', labels: { 'sark.io/inject': 'true' }, annotations },
  spec: { containers: [{ name: 'server', image: 'x', ports: [{ containerPort: 3000 }] }] },
});

describe('answerReview', () => {
  it('echoes the uid and returns a base64 JSONPatch for an injected pod', () => {
    const { review: out, outcome } = answerReview(review(labelled()), 'pod', options);
    expect(outcome).toBe('injected');
    expect(out.apiVersion).toBe('admission.k8s.io/v1');
    expect(out.response.uid).toBe('b4f1c2d3-0000-4000-8000-000000000001');
    expect(out.response.allowed).toBe(true);
    expect(out.response.patchType).toBe('JSONPatch');
    const ops = JSON.parse(Buffer.from(out.response.patch!, 'base64').toString('utf8'));
    expect(ops.filter((o: any) => o.path === '/spec/containers/-')).toHaveLength(2);
  });

  it('allows without a patch what it does not inject', () => {
    const unlabelled = { metadata: { name: 'p' }, spec: { containers: [{ name: 's', image: 'x' }] } };
    const skip = answerReview(review(unlabelled), 'pod', options);
    expect(skip.outcome).toBe('not_requested');
    expect(skip.review.response).toEqual({ uid: 'b4f1c2d3-0000-4000-8000-000000000001', allowed: true });
    const update = answerReview(review(labelled(), { operation: 'UPDATE' }), 'pod', options);
    expect(update.outcome).toBe('not_a_pod_create');
    const eviction = answerReview(review(labelled(), { subResource: 'eviction' }), 'pod', options);
    expect(eviction.outcome).toBe('not_a_pod_create');
    const system = answerReview(review(labelled(), { namespace: 'kube-system' }), 'namespace', options);
    expect(system.outcome).toBe('excluded_namespace');
  });

  it('refuses a bad annotation with status 400 and the message the user will see', () => {
    const { review: out, outcome } = answerReview(review(labelled({ 'sark.io/mcp-port': 'x_y' })), 'pod', options);
    expect(outcome).toBe('refused');
    expect(out.response.allowed).toBe(false);
    expect(out.response.patch).toBeUndefined();
    expect(out.response.status).toEqual({
      code: 400,
      reason: 'BadRequest',
      message: expect.stringMatching(/^SARK sidecar injection refused this pod: sark.io\/mcp-port: "x_y"/),
    });
  });

  it('fails closed: an unexpected error refuses the pod with 500', () => {
    const broken = { metadata: { labels: { 'sark.io/inject': 'true' } }, spec: { containers: 'not-a-list' } };
    const { review: out, outcome } = answerReview(review(broken), 'pod', options);
    expect(outcome).toBe('error');
    expect(out.response.allowed).toBe(false);
    expect(out.response.status?.code).toBe(500);
  });

  it.each([
    [null],
    [{ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } }],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '' } }],
  ])('rejects a body that is not an AdmissionReview v1 with a uid: %j', (body) => {
    expect(() => answerReview(body, 'pod', options)).toThrow(MalformedReview);
  });
});

describe('loadInjectOptions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sark-inject-'));
  const file = (name: string, value: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(value));
    return path;
  };

  it('names the missing required settings', () => {
    expect(() => loadInjectOptions({ env: {} })).toThrow(/tlsCertFile .*\n.*tlsKeyFile/s);
  });

  it('defaults the init image to the sidecar image', () => {
    expect(options.initImage).toBe('ghcr.io/example/sark:0.1.0');
  });

  it('refuses sidecar ports that collide', () => {
    expect(() => loadInjectOptions({ env: { ...env, SARK_INJECT_OPA_PORT: '15080' } })).toThrow(/must differ/);
  });

  it('checks the sidecar variables file against the sidecar schema at start-up', () => {
    const good = file('good.json', { SARK_REDIS_URL: 'redis://redis:6379', SARK_AUDIT_BATCH_SIZE: 500 });
    expect(loadInjectOptions({ env: { ...env, SARK_INJECT_SIDECAR_ENV_FILE: good } }).sidecarEnv).toEqual({
      SARK_REDIS_URL: 'redis://redis:6379',
      SARK_AUDIT_BATCH_SIZE: '500',
    });
    const typo = file('typo.json', { SARK_REDIS_URI: 'redis://x' });
    expect(() => loadInjectOptions({ env: { ...env, SARK_INJECT_SIDECAR_ENV_FILE: typo } })).toThrow(
      /SARK_REDIS_URI is not a SARK setting/,
    );
    const managed = file('managed.json', { SARK_UPSTREAM_URL: 'http://x' });
    expect(() => loadInjectOptions({ env: { ...env, SARK_INJECT_SIDECAR_ENV_FILE: managed } })).toThrow(
      /set by the webhook per pod/,
    );
    const bad = file('bad.json', { SARK_REDIS_URL: 'mysql://x' });
    expect(() => loadInjectOptions({ env: { ...env, SARK_INJECT_SIDECAR_ENV_FILE: bad } })).toThrow(/redisUrl/);
  });

  it('refuses malformed resources JSON', () => {
    expect(() =>
      loadInjectOptions({ env: { ...env, SARK_INJECT_SIDECAR_RESOURCES: '{"limits":{"cpu":"x"}}' } }),
    ).toThrow(/sidecarResources .*limits.cpu: expected a Kubernetes quantity/);
  });
});
