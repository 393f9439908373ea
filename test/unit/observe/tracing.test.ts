import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/observe/metrics.ts';
import {
  createTracer,
  disabledTracer,
  parseTraceparent,
  propagationHeaders,
  type Tracer,
  type TracingOptions,
  traceIdOf,
  traceparentFor,
} from '../../../src/observe/tracing.ts';
import { until } from '../../support/audit-events.ts';
import { parseExposition, sumOf } from '../../support/metrics-text.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../../support/otlp-receiver.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

function options(endpoint: string | undefined, over: Partial<TracingOptions> = {}): TracingOptions {
  return {
    endpoint,
    serviceName: 'sark',
    serverId: 'demo',
    sampleRatio: 1,
    maxQueueSpans: 2048,
    maxBatchSpans: 512,
    exportIntervalMs: 50,
    exportTimeoutMs: 2_000,
    ...over,
  };
}

let receiver: OtlpReceiver | undefined;
let tracer: Tracer | undefined;
afterEach(async () => {
  await tracer?.close();
  tracer = undefined;
  await receiver?.close();
  receiver = undefined;
});

describe('W3C traceparent', () => {
  it.each([
    [`00-${TRACE}-${PARENT}-01`, { traceId: TRACE, spanId: PARENT, sampled: true }],
    [`00-${TRACE}-${PARENT}-00`, { traceId: TRACE, spanId: PARENT, sampled: false }],
    // A later version may add fields; version 00 may not.
    [`01-${TRACE}-${PARENT}-01-future`, { traceId: TRACE, spanId: PARENT, sampled: true }],
    [`00-${TRACE}-${PARENT}-01-extra`, undefined],
    [`ff-${TRACE}-${PARENT}-01`, undefined],
    [`00-${'0'.repeat(32)}-${PARENT}-01`, undefined],
    [`00-${TRACE}-${'0'.repeat(16)}-01`, undefined],
    [`00-${TRACE.toUpperCase()}-${PARENT}-01`, undefined],
    ['garbage', undefined],
    [[`00-${TRACE}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01`], undefined],
    [undefined, undefined],
  ])('%j → %j', (value, expected) => {
    expect(parseTraceparent(value as string | string[] | undefined)).toEqual(expected);
  });

  it('gives log lines the client trace id even with tracing off', () => {
    expect(traceIdOf(undefined, { traceparent: `00-${TRACE}-${PARENT}-01` })).toBe(TRACE);
    expect(traceIdOf(undefined, {})).toBeUndefined();
  });
});

describe('tracing off', () => {
  it('is the no-op tracer: no span, nothing started', async () => {
    const t = await createTracer(options(undefined));
    expect(t).toBe(disabledTracer);
    expect(t.startRequest({ traceparent: `00-${TRACE}-${PARENT}-01` }, 'POST /mcp')).toBeUndefined();
  });
});

describe('tracing on (OTLP/HTTP JSON to a local receiver)', () => {
  it('continues the client trace: server span child of the client span, children of it, exported in a batch', async () => {
    receiver = await startOtlpReceiver();
    const metrics = createMetrics();
    tracer = await createTracer(options(receiver.url), { metrics: metrics.runtime, version: '9.9.9' });
    const root = tracer.startRequest({ traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=x' }, 'POST /mcp', {
      'http.request.method': 'POST',
    })!;
    expect(root.traceId).toBe(TRACE);
    const identity = root.child('sark.identity');
    identity.end({ 'sark.identity.type': 'api_key' });
    const policy = root.child('sark.policy', { 'sark.policy.engine': 'opa' });
    expect(propagationHeaders(policy)).toEqual({
      traceparent: `00-${TRACE}-${policy.spanId}-01`,
      tracestate: 'vendor=x',
    });
    policy.end({ 'sark.policy.cache': 'l1', 'sark.decision': 'allow', 'sark.latency_ms': 0.25 });
    const upstream = root.child('POST', { 'server.address': '127.0.0.1' }, 'client');
    expect(traceparentFor(upstream)).toBe(`00-${TRACE}-${upstream.spanId}-01`);
    upstream.end({ 'http.response.status_code': 200 });
    root.end({ 'mcp.method.name': 'tools/call' }, 'SARK_UPSTREAM_TIMEOUT');
    root.end({ ignored: true });

    await until('4 spans', () => receiver!.spans.length === 4, 5_000);
    const byName = Object.fromEntries(receiver.spans.map((s) => [s.name, s]));
    const server = byName['POST /mcp']!;
    expect(server).toMatchObject({ traceId: TRACE, parentSpanId: PARENT, kind: 2 });
    expect(server.attributes).toEqual({ 'http.request.method': 'POST', 'mcp.method.name': 'tools/call' });
    expect(server.status).toEqual({ code: 2, message: 'SARK_UPSTREAM_TIMEOUT' });
    for (const name of ['sark.identity', 'sark.policy', 'POST']) {
      expect(byName[name]).toMatchObject({ traceId: TRACE, parentSpanId: server.spanId });
      expect(byName[name]!.start >= server.start && byName[name]!.end <= server.end).toBe(true);
    }
    expect(byName.POST!.kind).toBe(3);
    expect(byName['sark.identity']!.kind).toBe(1);
    expect(byName['sark.policy']!.attributes).toEqual({
      'sark.policy.engine': 'opa',
      'sark.policy.cache': 'l1',
      'sark.decision': 'allow',
      'sark.latency_ms': 0.25,
    });
    expect(server.resource).toMatchObject({
      'service.name': 'sark',
      'service.version': '9.9.9',
      'sark.server_id': 'demo',
    });
    // Nanosecond times in the present (64-bit, beyond a JS number's precision).
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    expect(nowNs - server.start < 60_000_000_000n && server.end >= server.start).toBe(true);
    expect(receiver.requests).toHaveLength(1);
    await until(
      'export acknowledged',
      async () => sumOf(parseExposition(await metrics.registry.metrics()), 'sark_tracing_spans_exported_total') === 4,
      5_000,
    );
  });

  it('starts a new trace without a valid parent, obeys an unsampled parent, and samples new traces at the ratio', async () => {
    receiver = await startOtlpReceiver();
    tracer = await createTracer(options(receiver.url));
    const fresh = tracer.startRequest({ traceparent: 'nonsense' }, 'POST /mcp')!;
    expect(fresh.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(fresh.traceId).not.toBe(TRACE);
    expect(tracer.startRequest({ traceparent: `00-${TRACE}-${PARENT}-00` }, 'POST /mcp')).toBeUndefined();
    await tracer.close();

    tracer = await createTracer(options(receiver.url, { sampleRatio: 0 }));
    expect(tracer.startRequest({}, 'POST /mcp')).toBeUndefined();
    // A sampled parent is followed whatever the ratio (parent-based sampling).
    expect(tracer.startRequest({ traceparent: `00-${TRACE}-${PARENT}-01` }, 'POST /mcp')).toBeDefined();
    await tracer.close();

    tracer = await createTracer(options(receiver.url, { sampleRatio: 0.25 }));
    let sampled = 0;
    for (let i = 0; i < 4000; i++) if (tracer.startRequest({}, 'x')) sampled++;
    expect(sampled).toBeGreaterThan(800);
    expect(sampled).toBeLessThan(1200);
  });

  it('never blocks the request path: a dead collector or a full queue drops spans and counts them', async () => {
    receiver = await startOtlpReceiver();
    receiver.failWith = 503;
    const metrics = createMetrics();
    tracer = await createTracer(
      options(receiver.url, { maxQueueSpans: 100, maxBatchSpans: 50, exportIntervalMs: 10_000 }),
      {
        metrics: metrics.runtime,
      },
    );
    const started = performance.now();
    for (let i = 0; i < 1000; i++) tracer.startRequest({}, 'POST /mcp')!.end();
    const perSpanUs = ((performance.now() - started) * 1000) / 1000;
    // Generous bound for a loaded CI machine; measured ≈ 2-5 µs.
    expect(perSpanUs).toBeLessThan(200);
    await until(
      'exports tried',
      async () => {
        const s = parseExposition(await metrics.registry.metrics());
        return sumOf(s, 'sark_tracing_spans_dropped_total', { reason: 'export_failed' }) >= 100;
      },
      5_000,
    );
    const s = parseExposition(await metrics.registry.metrics());
    expect(sumOf(s, 'sark_tracing_spans_dropped_total', { reason: 'queue_full' })).toBeGreaterThanOrEqual(800);
    expect(sumOf(s, 'sark_tracing_spans_exported_total')).toBe(0);
  });
});
