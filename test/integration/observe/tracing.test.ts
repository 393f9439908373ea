/**
 * Tracing through a real sidecar: a local OTLP receiver decodes what SARK
 * exports; OPA and the upstream are recorders that show which traceparent
 * each call carried. And with tracing off, the exporter module is never
 * loaded and the client's traceparent passes through untouched.
 */
import { spawnSync } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../../src/sidecar.ts';
import { until } from '../../support/audit-events.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../../support/otlp-receiver.ts';
import { type RawUpstream, startRawUpstream } from '../../support/raw-upstream.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';

/** Stands in for OPA's Data API: allows every call, serves a tool catalogue and /health. */
function fakeOpa(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '';
  let body: unknown = {};
  if (req.method === 'POST' && path.startsWith('/v1/data/')) body = { result: { allow: true, reasons: [] } };
  else if (path === '/v1/data/sark/tools/demo') body = { result: { echo: {} } };
  else if (path !== '/health' && !path.startsWith('/v1/data/system/bundles')) body = {};
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function echoUpstream(_req: IncomingMessage, res: ServerResponse, body: string): void {
  const { id } = JSON.parse(body) as { id: number };
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'ok' }] } }));
}

const callBody = (id: number) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } });

describe('tracing on', () => {
  let receiver: OtlpReceiver;
  let opa: RawUpstream;
  let upstream: RawUpstream;
  let sidecar: Sidecar;

  beforeAll(async () => {
    [receiver, opa, upstream] = await Promise.all([startOtlpReceiver(), startRawUpstream(''), startRawUpstream()]);
    opa.handler = fakeOpa;
    upstream.handler = echoUpstream;
    sidecar = await startTestSidecar([
      '--opa-url',
      opa.url,
      '--upstream-url',
      upstream.url,
      '--decision-cache-entries',
      '0',
      '--tracing-otlp-endpoint',
      receiver.url,
    ]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await Promise.all([receiver?.close(), opa?.close(), upstream?.close()]);
  });

  it('continues the client trace; identity, policy and upstream spans are children; OPA and the upstream get their own span as parent', async () => {
    const res = await rawPost(sidecar.mcpUrl, callBody(1), { traceparent: `00-${TRACE}-${CLIENT_SPAN}-01` });
    expect(res.status).toBe(200);
    await until('4 spans exported', () => receiver.spans.filter((s) => s.traceId === TRACE).length === 4, 10_000);
    const spans = receiver.spans.filter((s) => s.traceId === TRACE);
    const server = spans.find((s) => s.kind === 2)!;
    expect(server).toMatchObject({ name: 'POST /mcp', parentSpanId: CLIENT_SPAN });
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.response.status_code': 200,
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'echo',
    });
    expect(server.attributes['sark.request_id']).toMatch(/^[0-9a-f-]{36}$/);
    const child = (name: string) => spans.find((s) => s.name === name)!;
    for (const name of ['sark.identity', 'sark.policy', 'POST']) expect(child(name).parentSpanId).toBe(server.spanId);
    expect(child('sark.identity').attributes).toEqual({ 'sark.identity.type': 'anonymous' });
    expect(child('sark.policy').attributes).toMatchObject({
      'sark.policy.engine': 'opa',
      'sark.policy.cache': 'none',
      'sark.decision': 'allow',
    });
    expect(child('POST').kind).toBe(3);
    expect(child('POST').attributes).toMatchObject({ 'http.response.status_code': 200 });

    const opaCall = opa.captured.find((c) => c.method === 'POST' && c.headers.traceparent?.includes(TRACE))!;
    expect(opaCall.headers.traceparent).toBe(`00-${TRACE}-${child('sark.policy').spanId}-01`);
    const upstreamCall = upstream.captured.at(-1)!;
    expect(upstreamCall.headers.traceparent).toBe(`00-${TRACE}-${child('POST').spanId}-01`);
  });

  it('starts a trace for a client that sends none, and marks a refused request', async () => {
    const before = receiver.spans.length;
    const res = await rawPost(sidecar.mcpUrl, '{"jsonrpc":"2.0","id":2,"method":"tools/call"', {});
    expect(res.status).toBe(400);
    await until('the refused request exported', () => receiver.spans.length > before, 10_000);
    const server = receiver.spans.slice(before).find((s) => s.kind === 2)!;
    expect(server.parentSpanId).toBeUndefined();
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(server.attributes['http.response.status_code']).toBe(400);
  });
});

describe('tracing off (the default)', () => {
  let upstream: RawUpstream;
  let sidecar: Sidecar;

  beforeAll(async () => {
    upstream = await startRawUpstream();
    upstream.handler = echoUpstream;
    sidecar = await startTestSidecar(['--upstream-url', upstream.url]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
  });

  it("passes the client's traceparent to the upstream untouched", async () => {
    const traceparent = `00-${TRACE}-${CLIENT_SPAN}-01`;
    expect((await rawPost(sidecar.mcpUrl, callBody(3), { traceparent })).status).toBe(200);
    expect(upstream.captured.at(-1)!.headers.traceparent).toBe(traceparent);
  });

  it('never loads the exporter module', () => {
    // A fresh process: start a sidecar with tracing off and list every module it resolved.
    const script = `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
      const { loadConfig } = await import('./src/config/load.ts');
      const { createLogger } = await import('./src/observe/logger.ts');
      const { startSidecar } = await import('./src/sidecar.ts');
      const config = loadConfig({ argv: ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--audit-file', 'off'], env: {} });
      const sidecar = await startSidecar(config, createLogger('silent'));
      await sidecar.close();
      console.log(JSON.stringify({ otlp: seen.filter((u) => u.endsWith('/otlp.ts')).length, tracing: seen.filter((u) => u.endsWith('/tracing.ts')).length }));
    `;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('../../../', import.meta.url).pathname,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out.stderr).toBe('');
    const seen = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { otlp: number; tracing: number };
    expect(seen.tracing).toBeGreaterThan(0);
    expect(seen.otlp).toBe(0);
  });
});
