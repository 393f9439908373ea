/**
 * Envoy ext_authz on real parts: a grpc-js client built from the same Envoy
 * protos calls `envoy.service.auth.v3.Authorization/Check` on a real sidecar
 * deciding with a real OPA (the repo's policy and data). Allowed, denied,
 * unauthenticated (401 and its challenge), a filtered method refused, a
 * session request refused, the message from the MCP filter's metadata, a
 * 2026-07-28 message's routing headers, mesh identity from
 * `source.principal`; the policy engine down (denied); mTLS on the listener.
 * And the same call through the MCP listener and through ext_authz writes
 * the same audit row, field by field, except ids and timings.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuthorization } from '../../../src/listen/ext-authz-server.ts';
import type { Sidecar } from '../../../src/sidecar.ts';
import { auditFileRows, until } from '../../support/audit-events.ts';
import { CASE_KEY_ENTRIES, DECISION_CASES, keyOf } from '../../support/decision-cases.ts';
import { webhookCertificates } from '../../support/kube.ts';
import { freePort, type Service, startOpa } from '../../support/services.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';

const KEY = 'ext-authz-dev-key-0123456789abcdef';
const SPIFFE = 'spiffe://cluster.local/ns/agents/sa/planner';

type Check = (request: unknown) => Promise<any>;

function checker(address: string, creds = grpc.credentials.createInsecure()): Promise<{ check: Check; close(): void }> {
  return loadAuthorization().then((Authorization) => {
    const client = new Authorization(address, creds) as unknown as grpc.Client & {
      Check(r: unknown, cb: (err: grpc.ServiceError | null, res: unknown) => void): void;
    };
    return {
      check: (r) => new Promise((resolve, reject) => client.Check(r, (err, res) => (err ? reject(err) : resolve(res)))),
      close: () => client.close(),
    };
  });
}

/** A CheckRequest as Envoy sends it for a POST to /mcp, with_request_body (pack_as_bytes). */
function post(body: unknown, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): unknown {
  return {
    attributes: {
      source: extra.principal ? { principal: extra.principal } : {},
      request: {
        http: {
          method: 'POST',
          path: '/mcp?x=1',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
          raw_body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
        },
      },
      metadata_context: extra.metadata_context,
    },
  };
}

const call = (id: number, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

/** `headers` of an ok_response or denied_response as a plain object. */
function headerMap(list: { header: { key: string; value: string } }[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((h) => [h.header.key, h.header.value]));
}

/** The row count once writes in flight have landed (the file sink gathers rows for up to 20 ms per write). */
async function settledRows(file: string): Promise<number> {
  let n = auditRows(file).length;
  for (;;) {
    await new Promise((r) => setTimeout(r, 60));
    const m = auditRows(file).length;
    if (m === n) return n;
    n = m;
  }
}

function auditRows(file: string): Record<string, any>[] {
  return auditFileRows(file);
}

/** The audit row without what differs by construction between two calls: ids, times, the upstream, the cache. */
function comparable(row: Record<string, any>): Record<string, any> {
  const {
    request_id: _r,
    http_request_id: _h,
    ts_ms: _t,
    total_ms: _tm,
    policy_ms: _p,
    upstream_ms: _u,
    upstream_status: _us,
    cache_hit: _c,
    ...rest
  } = row;
  return rest;
}

describe('Envoy ext_authz with real OPA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sark-extauthz-'));
  const auditFile = join(dir, 'audit.ndjson');
  let opa: Service;
  let sidecar: Sidecar;
  let client: { check: Check; close(): void };

  beforeAll(async () => {
    writeFileSync(
      join(dir, 'keys.json'),
      JSON.stringify([{ key: KEY, agentId: 'dev-1', roles: ['developer'] }, ...CASE_KEY_ENTRIES]),
    );
    opa = await startOpa();
    sidecar = await startTestSidecar([
      '--opa-url',
      opa.url,
      '--opa-timeout-ms',
      '2000',
      '--api-keys-file',
      join(dir, 'keys.json'),
      '--allow-anonymous',
      'false',
      '--mesh-identity-header',
      'x-spiffe-id',
      '--audit-file',
      auditFile,
      '--audit-flush-interval-ms',
      '20',
      '--ext-authz-listen',
      '127.0.0.1:0',
    ]);
    client = await checker(sidecar.extAuthzAddress!);
  });

  afterAll(async () => {
    client?.close();
    await sidecar?.close();
    await opa?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('allows a permitted call: request id, credentials removed, routing headers removed', async () => {
    const res = await client.check(post(call(1, 'echo', { text: 'hi' }), { 'x-api-key': KEY, 'mcp-name': 'echo' }));
    expect(res.status.code).toBe(0);
    expect(res.http_response).toBe('ok_response');
    const set = headerMap(res.ok_response.headers);
    expect(set['x-sark-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.ok_response.headers_to_remove).toEqual(
      expect.arrayContaining(['authorization', 'x-api-key', 'mcp-method', 'mcp-name']),
    );
    expect(res.ok_response.headers.every((h: any) => h.append_action === 'OVERWRITE_IF_EXISTS_OR_ADD')).toBe(true);
    const meta = res.dynamic_metadata.fields;
    expect(meta.sark_decision.stringValue).toBe('allow');
    expect(meta.sark_agent_id.stringValue).toBe('dev-1');
  });

  it('denies what the policy denies with the JSON-RPC error the MCP listener sends', async () => {
    const body = call(2, 'delete_file', { path: '/etc/passwd' });
    const res = await client.check(post(body, { 'x-api-key': KEY }));
    expect(res.status.code).toBe(7);
    expect(res.http_response).toBe('denied_response');
    expect(res.denied_response.status.code).toBe('OK');
    const answer = JSON.parse(res.denied_response.body);
    expect(answer).toMatchObject({ jsonrpc: '2.0', id: 2, error: { code: -32002 } });
    expect(headerMap(res.denied_response.headers)['x-sark-error']).toBe('SARK_POLICY_DENIED');

    const direct = await rawPost(sidecar.mcpUrl, JSON.stringify(body), { 'x-api-key': KEY });
    expect(direct.status).toBe(200);
    const { request_id: a, ...viaEnvoy } = answer.error.data;
    const { request_id: b, ...viaListener } = direct.json.error.data;
    expect(a).not.toBe(b);
    expect({ ...answer.error, data: viaEnvoy }).toEqual({ ...direct.json.error, data: viaListener });
  });

  it('answers a missing credential with 401 and the challenge', async () => {
    const res = await client.check(post(call(3, 'echo')));
    expect(res.status.code).toBe(16);
    expect(res.denied_response.status.code).toBe('Unauthorized');
    const headers = headerMap(res.denied_response.headers);
    expect(headers['www-authenticate']).toMatch(/^Bearer /);
    expect(headers['x-sark-error']).toBe('SARK_UNAUTHENTICATED');
    expect(JSON.parse(res.denied_response.body).error.code).toBe(-32001);
    const direct = await rawPost(sidecar.mcpUrl, JSON.stringify(call(3, 'echo')));
    expect(direct.status).toBe(401);
    expect(direct.headers.get('www-authenticate')).toBe(headers['www-authenticate']);
  });

  it('refuses a filtered list (tools/list) it cannot filter: fail closed', async () => {
    const res = await client.check(post({ jsonrpc: '2.0', id: 4, method: 'tools/list' }, { 'x-api-key': KEY }));
    expect(res.http_response).toBe('denied_response');
    expect(headerMap(res.denied_response.headers)['x-sark-error']).toBe('SARK_OBLIGATION_UNSUPPORTED');
    const answer = JSON.parse(res.denied_response.body);
    expect(answer.error.code).toBe(-32003);
    expect(answer.error.message).toContain('filter_');
  });

  it('refuses a request of a 2025 session, whose owner it cannot check', async () => {
    const res = await client.check(post(call(5, 'echo'), { 'x-api-key': KEY, 'mcp-session-id': 'abc' }));
    expect(res.http_response).toBe('denied_response');
    expect(JSON.parse(res.denied_response.body).error.message).toContain('session');
  });

  it('refuses a POST without the body or the MCP filter metadata', async () => {
    const res = await client.check(post(undefined, { 'x-api-key': KEY }));
    expect(res.denied_response.status.code).toBe('BadRequest');
    expect(JSON.parse(res.denied_response.body).error.message).toContain('with_request_body');
  });

  it("decides on the message Envoy's MCP filter published when no body is sent", async () => {
    const struct = (o: Record<string, unknown>): any => ({
      fields: Object.fromEntries(
        Object.entries(o).map(([k, v]) => [
          k,
          typeof v === 'string'
            ? { stringValue: v }
            : typeof v === 'number'
              ? { numberValue: v }
              : { structValue: struct(v as Record<string, unknown>) },
        ]),
      ),
    });
    const metadata = {
      filter_metadata: {
        mcp_proxy: struct({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'delete_file' } }),
      },
    };
    const res = await client.check(post(undefined, { 'x-api-key': KEY }, { metadata_context: metadata }));
    expect(res.http_response).toBe('denied_response');
    expect(JSON.parse(res.denied_response.body)).toMatchObject({ id: 6, error: { code: -32002 } });
    const allowed = await client.check(
      post(
        undefined,
        { 'x-api-key': KEY },
        {
          metadata_context: {
            filter_metadata: { mcp_proxy: struct({ id: 7, method: 'tools/call', params: { name: 'echo' } }) },
          },
        },
      ),
    );
    expect(allowed.http_response).toBe('ok_response');
  });

  it('sets the routing headers of a 2026-07-28 message from the authorized body', async () => {
    const body = {
      jsonrpc: '2.0',
      id: 8,
      method: 'tools/call',
      params: {
        name: 'echo',
        arguments: { text: 'x' },
        _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' },
      },
    };
    const res = await client.check(
      post(body, {
        'x-api-key': KEY,
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'echo',
        'mcp-param-forged': 'x',
      }),
    );
    expect(res.http_response).toBe('ok_response');
    const set = headerMap(res.ok_response.headers);
    expect(set).toMatchObject({ 'mcp-method': 'tools/call', 'mcp-name': 'echo', 'mcp-protocol-version': '2026-07-28' });
    expect(res.ok_response.headers_to_remove).toContain('mcp-param-forged');
    // Headers and body disagree: refused as the MCP listener refuses it.
    const bad = await client.check(
      post(body, {
        'x-api-key': KEY,
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'add',
      }),
    );
    expect(JSON.parse(bad.denied_response.body).error.code).toBe(-32020);
  });

  it('writes the audit row the MCP listener writes for the same call (allowed, denied, mesh)', async () => {
    const cases: [string, unknown, Record<string, string>, Record<string, unknown>][] = [
      ['allowed (API key)', call(10, 'add', { a: 1, b: 2 }), { 'x-api-key': KEY }, {}],
      ['denied (API key)', call(11, 'delete_file', { path: '/tmp/x' }), { 'x-api-key': KEY }, {}],
      ['mesh identity', call(12, 'echo', { text: 'mesh' }), {}, { principal: SPIFFE }],
    ];
    for (const [what, body, headers, extra] of cases) {
      const before = await settledRows(auditFile);
      const listenerHeaders = extra.principal ? { ...headers, 'x-spiffe-id': SPIFFE } : headers;
      await rawPost(sidecar.mcpUrl, JSON.stringify(body), { ...listenerHeaders, traceparent: TRACEPARENT });
      await until(`${what}: the MCP listener's row`, () => auditRows(auditFile).length >= before + 1);
      const res = await client.check(post(body, { ...headers, traceparent: TRACEPARENT }, extra));
      await until(`${what}: the ext_authz row`, () => auditRows(auditFile).length >= before + 2);
      const [viaListener, viaEnvoy] = auditRows(auditFile).slice(before);
      const id =
        res.http_response === 'ok_response'
          ? headerMap(res.ok_response.headers)['x-sark-request-id']
          : JSON.parse(res.denied_response.body).error.data.request_id;
      expect(viaEnvoy!.request_id, what).toBe(id);
      expect(comparable(viaEnvoy!), what).toEqual(comparable(viaListener!));
      // The decision cache is shared: the second asking of the same call is a hit.
      expect(viaEnvoy!.cache_hit, what).toBe(true);
      expect(viaEnvoy!.upstream_status, what).toBeNull();
    }
    const mesh = auditRows(auditFile).filter((r) => r.agent_id === SPIFFE);
    expect(mesh).toHaveLength(2);
    expect(mesh[0]!.agent_type).toBe('service');
  });

  it('decides the shared table of cases as the MCP listener does, with the same audit row', async () => {
    for (const c of DECISION_CASES) {
      const what = `${c.who} ${c.tool}`;
      const key = keyOf(c.who);
      const headers: Record<string, string> = key ? { 'x-api-key': key } : {};
      const body = call(20, c.tool, c.args);
      const before = await settledRows(auditFile);
      const listener = await rawPost(sidecar.mcpUrl, JSON.stringify(body), headers);
      await until(`${what}: the MCP listener's row`, () => auditRows(auditFile).length >= before + 1);
      const res = await client.check(post(body, headers));
      await until(`${what}: the ext_authz row`, () => auditRows(auditFile).length >= before + 2);
      const [viaListener, viaEnvoy] = auditRows(auditFile).slice(before);
      if (viaEnvoy!.reasons[0] === 'obligation_unsupported') {
        // The listener applied the decision's argument edits; ext_authz cannot rewrite what Envoy forwards, so it
        // refuses the call (fail closed), and its audit row says so. Everything else about the decision is the same.
        expect(viaListener!.decision, what).toBe('allow');
        expect(res.http_response, what).toBe('denied_response');
        expect(comparable({ ...viaEnvoy!, decision: 'allow', reasons: [] }), what).toEqual(comparable(viaListener!));
        continue;
      }
      expect(res.http_response === 'ok_response', what).toBe(
        listener.json?.error === undefined && listener.status === 200,
      );
      expect(comparable(viaEnvoy!), what).toEqual(comparable(viaListener!));
    }
  });
});

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('ext_authz with the policy engine down', () => {
  let sidecar: Sidecar;
  let client: { check: Check; close(): void };

  beforeAll(async () => {
    const nobody = await freePort();
    sidecar = await startTestSidecar([
      '--opa-url',
      `http://127.0.0.1:${nobody}`,
      '--opa-timeout-ms',
      '200',
      '--ext-authz-listen',
      '127.0.0.1:0',
    ]);
    client = await checker(sidecar.extAuthzAddress!);
  });

  afterAll(async () => {
    client?.close();
    await sidecar?.close();
  });

  it('denies: no valid decision is never an allow', async () => {
    const res = await client.check(post(call(1, 'echo', { text: 'hi' })));
    expect(res.http_response).toBe('denied_response');
    expect(res.status.code).toBe(7);
    const answer = JSON.parse(res.denied_response.body);
    expect(answer.error.code).toBe(-32003);
    expect(headerMap(res.denied_response.headers)['x-sark-error']).toMatch(/^SARK_POLICY_/);
  });
});

describe('ext_authz over mutual TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sark-extauthz-tls-'));
  let sidecar: Sidecar;
  let ca: string;
  let client: { cert: Buffer; key: Buffer };

  beforeAll(async () => {
    const server = webhookCertificates(dir);
    ca = server.caPem;
    // A client certificate from the same CA, as the mesh would issue to Envoy.
    const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    const leaf = join(dir, 'envoy');
    ssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${leaf}.key`,
      '-out',
      `${leaf}.csr`,
      '-subj',
      '/CN=envoy',
    ]);
    writeFileSync(`${leaf}.ext`, 'extendedKeyUsage=clientAuth\n');
    ssl([
      'x509',
      '-req',
      '-in',
      `${leaf}.csr`,
      '-CA',
      join(dir, 'ca.crt'),
      '-CAkey',
      join(dir, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${leaf}.crt`,
      '-extfile',
      `${leaf}.ext`,
    ]);
    client = { cert: readFileSync(`${leaf}.crt`), key: readFileSync(`${leaf}.key`) };
    sidecar = await startTestSidecar([
      '--ext-authz-listen',
      '127.0.0.1:0',
      '--ext-authz-tls-cert-file',
      server.certFile,
      '--ext-authz-tls-key-file',
      server.keyFile,
      '--ext-authz-tls-client-ca-file',
      join(dir, 'ca.crt'),
    ]);
  });

  afterAll(async () => {
    await sidecar?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers Envoy with a client certificate, and no one without', async () => {
    const ok = await checker(
      sidecar.extAuthzAddress!,
      grpc.credentials.createSsl(Buffer.from(ca), client.key, client.cert),
    );
    try {
      const res = await ok.check(post(call(1, 'echo', { text: 'tls' })));
      expect(res.http_response).toBe('ok_response');
    } finally {
      ok.close();
    }
    const anonymous = await checker(sidecar.extAuthzAddress!, grpc.credentials.createSsl(Buffer.from(ca)));
    try {
      await expect(anonymous.check(post(call(2, 'echo')))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    } finally {
      anonymous.close();
    }
  });
});
