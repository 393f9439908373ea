/**
 * What tracing costs one process: the module's memory and load time, and the
 * CPU per traced request (a server span continued from a traceparent and
 * three children, exported in batches to a refused port), for
 *   off   tracing off (disabledTracer): the control
 *   sark  SARK's own OTLP/JSON exporter (src/observe/otlp.ts)
 *   otel  the OpenTelemetry JS SDK (@opentelemetry/sdk-trace + exporter-trace-otlp-http)
 * Plain .mjs: the SDK is not a dependency of SARK. To run the comparison:
 *
 *   mkdir -p /tmp/otel && (cd /tmp/otel && npm init -y && npm i @opentelemetry/api@1.10.0 \
 *     @opentelemetry/sdk-trace@3.1.0 @opentelemetry/exporter-trace-otlp-http@0.301.0)
 *   for m in off sark otel; do OTEL_DIR=/tmp/otel npx node --expose-gc loadtest/tracing-cost.mjs $m; done
 *
 * Results: loadtest/results/tracing-cost.json; discussion: docs/observability.md, "Tracing".
 */
import { createRequire } from 'node:module';

const ROOT = new URL('../', import.meta.url).pathname;
const otel = createRequire(`${process.env.OTEL_DIR ?? '/tmp/otel'}/package.json`);
const fromOtel = (name) => import(otel.resolve(name));
const mode = process.argv[2];
const rss = () => Math.round(process.memoryUsage().rss / 1048576 * 10) / 10;
const settle = async () => { for (let i = 0; i < 3; i++) { globalThis.gc?.(); await new Promise(r => setTimeout(r, 30)); } };
// What the sidecar has loaded anyway: undici (OPA client, upstream) and TypeScript files.
await import(`${ROOT}node_modules/undici/index.js`);
const { createTracer } = await import(`${ROOT}src/observe/tracing.ts`);
await settle();
const before = rss();
const t0 = performance.now();
let startReq; let close = async () => {};
const TP = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
if (mode === 'otel') {
  const api = await fromOtel('@opentelemetry/api');
  const { TracerProvider, BatchSpanProcessor } = await fromOtel('@opentelemetry/sdk-trace');
  const { OTLPTraceExporter } = await fromOtel('@opentelemetry/exporter-trace-otlp-http');
  const { W3CTraceContextPropagator } = await fromOtel('@opentelemetry/core');
  const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: 'http://127.0.0.1:9/v1/traces' }))] });
  const tracer = provider.getTracer('sark');
  const prop = new W3CTraceContextPropagator();
  startReq = () => {
    const ctx = prop.extract(api.ROOT_CONTEXT, TP, api.defaultTextMapGetter);
    const root = tracer.startSpan('POST /mcp', { kind: api.SpanKind.SERVER, attributes: { 'http.request.method': 'POST' } }, ctx);
    const c = api.trace.setSpan(ctx, root);
    for (const n of ['sark.identity', 'sark.policy', 'POST']) { const s = tracer.startSpan(n, {}, c); s.setAttribute('a', 'b'); s.end(); }
    root.end();
  };
  close = () => provider.shutdown();
} else if (mode === 'sark') {
  const t = await createTracer({ endpoint: 'http://127.0.0.1:9/v1/traces', serviceName: 'sark', serverId: 'demo', sampleRatio: 1, maxQueueSpans: 2048, maxBatchSpans: 512, exportIntervalMs: 5000, exportTimeoutMs: 1000 });
  startReq = () => {
    const root = t.startRequest(TP, 'POST /mcp', { 'http.request.method': 'POST' });
    for (const n of ['sark.identity', 'sark.policy', 'POST']) root.child(n).end({ a: 'b' });
    root.end();
  };
  close = () => t.close();
} else if (mode === 'off') {
  const t = await createTracer({ endpoint: undefined });
  startReq = () => { const s = t.startRequest(TP, 'POST /mcp'); s?.child('x'); s?.end(); };
}
const loadMs = performance.now() - t0;
await settle();
const afterLoad = rss();
let perReqUs = 0;
for (let i = 0; i < 20000; i++) startReq();
const N = 50000; const s = performance.now();
for (let i = 0; i < N; i++) { startReq(); if (i % 500 === 0) await new Promise(r => setImmediate(r)); }
perReqUs = (performance.now() - s) * 1000 / N;
await settle();
console.log(JSON.stringify({ mode, rssBaseMB: before, loadedDeltaMB: Math.round((afterLoad - before) * 10) / 10, afterRunDeltaMB: Math.round((rss() - before) * 10) / 10, loadMs: Math.round(loadMs), perRequestUs: Math.round(perReqUs * 100) / 100 }));
await close().catch(() => {});
process.exit(0);
