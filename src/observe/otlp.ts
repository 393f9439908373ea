/**
 * The tracer behind tracing.ts when an OTLP endpoint is configured: spans as
 * plain objects, a bounded queue, and a batch exporter that POSTs OTLP/JSON
 * (OTLP/HTTP, opentelemetry-proto's JSON mapping: hex trace and span ids,
 * 64-bit nanosecond times as decimal strings) to the collector.
 *
 * Hand-written rather than the OpenTelemetry JS SDK, on measurements
 * (loadtest/tracing-cost.mjs, docs/observability.md "Tracing"): loaded, the
 * SDK with its OTLP/HTTP exporter takes 7–9 MB and 0.1–0.5 s, and twice this
 * module's memory under traffic (70 vs 33 MB after 70 000 traced requests),
 * for no less CPU per request; one sidecar per pod pays that a thousand times
 * in a fleet. This module loads in 2 MB and tens of milliseconds.
 *
 * Never blocks the request path: `end()` pushes onto an array. A full queue
 * drops the span (counted, `sark_tracing_spans_dropped_total{reason="queue_full"}`);
 * one export is in flight at a time; a failed export is dropped and counted,
 * not retried, so an unreachable collector costs a bounded amount of memory.
 */
import { randomFillSync } from 'node:crypto';
import { hostname } from 'node:os';
import { request } from 'undici';
import type { Logger } from './logger.ts';
import type { RuntimeMetrics } from './metrics-runtime.ts';
import {
  type ParentContext,
  parseTraceparent,
  type RequestSpan,
  type SpanAttributes,
  SpanKind,
  type TraceHeaders,
  type Tracer,
  type TracingOptions,
} from './tracing.ts';

export interface OtlpDeps {
  readonly metrics?: Pick<RuntimeMetrics, 'tracingSpansExported' | 'tracingSpansDropped'> | undefined;
  readonly logger?: Logger | undefined;
  /** The SARK version, for the resource's service.version. */
  readonly version?: string | undefined;
}

/** Random hex ids from a pooled buffer: one getrandom call per 512 ids rather than one per span. */
class IdSource {
  #buf = Buffer.alloc(4096);
  #off = this.#buf.length;

  hex(bytes: number): string {
    if (this.#off + bytes > this.#buf.length) {
      randomFillSync(this.#buf);
      this.#off = 0;
    }
    const s = this.#buf.toString('hex', this.#off, this.#off + bytes);
    this.#off += bytes;
    return s;
  }
}

/** Wall-clock time in ms with sub-ms precision, monotonic within the process. */
const nowMs = () => performance.timeOrigin + performance.now();

/** ms (float) → nanoseconds as a decimal string (exceeds 2^53, so not a JS number). */
function nanos(ms: number): string {
  const whole = Math.floor(ms);
  const frac = Math.min(999_999, Math.round((ms - whole) * 1e6));
  return `${whole}${String(frac).padStart(6, '0')}`;
}

type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };

function attributes(attrs: Record<string, string | number | boolean>): { key: string; value: AnyValue }[] {
  const out: { key: string; value: AnyValue }[] = [];
  for (const key in attrs) {
    const v = attrs[key]!;
    let value: AnyValue;
    if (typeof v === 'string') value = { stringValue: v };
    else if (typeof v === 'boolean') value = { boolValue: v };
    else if (Number.isInteger(v)) value = { intValue: String(v) };
    else value = { doubleValue: v };
    out.push({ key, value });
  }
  return out;
}

class Span implements RequestSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceState: string | undefined;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: number;
  readonly start: number;
  end_ = 0;
  readonly attrs: Record<string, string | number | boolean> = {};
  error: string | undefined;
  readonly #sink: OtlpTracer;

  constructor(
    sink: OtlpTracer,
    traceId: string,
    parentSpanId: string | undefined,
    traceState: string | undefined,
    name: string,
    kind: number,
    attributes: SpanAttributes | undefined,
  ) {
    this.#sink = sink;
    this.traceId = traceId;
    this.spanId = sink.ids.hex(8);
    this.parentSpanId = parentSpanId;
    this.traceState = traceState;
    this.name = name;
    this.kind = kind;
    this.start = nowMs();
    if (attributes) this.setAttributes(attributes);
  }

  child(name: string, attributes?: SpanAttributes, kind: keyof typeof SpanKind = 'internal'): RequestSpan {
    return new Span(this.#sink, this.traceId, this.spanId, this.traceState, name, SpanKind[kind], attributes);
  }

  setAttributes(attributes: SpanAttributes): void {
    for (const key in attributes) {
      const v = attributes[key];
      if (v !== undefined) this.attrs[key] = v;
    }
  }

  end(attributes?: SpanAttributes, error?: string): void {
    if (this.end_ !== 0) return;
    this.end_ = nowMs();
    if (attributes) this.setAttributes(attributes);
    if (error !== undefined) this.error = error;
    this.#sink.push(this);
  }

  toOtlp(): Record<string, unknown> {
    const span: Record<string, unknown> = {
      traceId: this.traceId,
      spanId: this.spanId,
      name: this.name,
      kind: this.kind,
      startTimeUnixNano: nanos(this.start),
      endTimeUnixNano: nanos(this.end_),
      attributes: attributes(this.attrs),
      // STATUS_CODE_ERROR = 2; unset (0) otherwise, as the specification asks of instrumentation.
      status: this.error === undefined ? {} : { code: 2, message: this.error },
    };
    if (this.parentSpanId !== undefined) span.parentSpanId = this.parentSpanId;
    if (this.traceState !== undefined) span.traceState = this.traceState;
    return span;
  }
}

class OtlpTracer implements Tracer {
  readonly enabled = true;
  readonly ids = new IdSource();
  readonly #o: TracingOptions;
  readonly #deps: OtlpDeps;
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #resource: Record<string, unknown>;
  readonly #scope: Record<string, unknown>;
  /** Above this value of 32 random bits a new trace is not sampled. */
  readonly #threshold: number;
  #queue: Span[] = [];
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout;
  #failLoggedAt = 0;

  constructor(options: TracingOptions, deps: OtlpDeps) {
    this.#o = options;
    this.#deps = deps;
    this.#url = new URL(options.endpoint!);
    this.#headers = { 'content-type': 'application/json', ...options.headers };
    this.#threshold = Math.floor(Math.max(0, Math.min(1, options.sampleRatio)) * 0x1_0000_0000);
    this.#resource = {
      attributes: attributes({
        'service.name': options.serviceName,
        'service.version': deps.version ?? 'unknown',
        'service.instance.id': hostname(),
        'sark.server_id': options.serverId,
      }),
    };
    this.#scope = { name: 'sark', version: deps.version ?? 'unknown' };
    this.#timer = setInterval(() => this.#export(), options.exportIntervalMs);
    this.#timer.unref();
  }

  startRequest(headers: TraceHeaders, name: string, attributes?: SpanAttributes): RequestSpan | undefined {
    const parent: ParentContext | undefined = parseTraceparent(headers.traceparent);
    if (parent) {
      if (!parent.sampled) return undefined;
      const state = headers.tracestate;
      const traceState = typeof state === 'string' ? state : state?.join(',');
      return new Span(this, parent.traceId, parent.spanId, traceState, name, SpanKind.server, attributes);
    }
    if (this.#threshold < 0x1_0000_0000 && Number.parseInt(this.ids.hex(4), 16) >= this.#threshold) return undefined;
    return new Span(this, this.ids.hex(16), undefined, undefined, name, SpanKind.server, attributes);
  }

  push(span: Span): void {
    if (this.#queue.length >= this.#o.maxQueueSpans) {
      this.#deps.metrics?.tracingSpansDropped.labels('queue_full').inc();
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= this.#o.maxBatchSpans && this.#inFlight === undefined) {
      // Off the caller's stack: the span's end() returns at once.
      setImmediate(() => this.#export());
    }
  }

  #export(): Promise<void> {
    if (this.#inFlight !== undefined || this.#queue.length === 0) return this.#inFlight ?? Promise.resolve();
    const batch = this.#queue.splice(0, this.#o.maxBatchSpans);
    const body = JSON.stringify({
      resourceSpans: [
        { resource: this.#resource, scopeSpans: [{ scope: this.#scope, spans: batch.map((s) => s.toOtlp()) }] },
      ],
    });
    this.#inFlight = this.#send(body, batch.length).finally(() => {
      this.#inFlight = undefined;
      if (this.#queue.length >= this.#o.maxBatchSpans) setImmediate(() => this.#export());
    });
    return this.#inFlight;
  }

  async #send(body: string, count: number): Promise<void> {
    try {
      const res = await request(this.#url, {
        method: 'POST',
        headers: this.#headers,
        body,
        signal: AbortSignal.timeout(this.#o.exportTimeoutMs),
      });
      await res.body.dump();
      if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`collector answered HTTP ${res.statusCode}`);
      this.#deps.metrics?.tracingSpansExported.inc(count);
    } catch (err) {
      this.#deps.metrics?.tracingSpansDropped.labels('export_failed').inc(count);
      const now = Date.now();
      if (now - this.#failLoggedAt >= 60_000) {
        this.#failLoggedAt = now;
        this.#deps.logger?.warn({ err: (err as Error).message, spans: count }, 'trace export failed; spans dropped');
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    const deadline = Date.now() + this.#o.exportTimeoutMs;
    while ((this.#queue.length > 0 || this.#inFlight !== undefined) && Date.now() < deadline) {
      await (this.#inFlight ?? this.#export());
    }
  }
}

export function createOtlpTracer(options: TracingOptions, deps: OtlpDeps): Tracer {
  if (!options.endpoint) throw new TypeError('tracing needs an OTLP endpoint');
  return new OtlpTracer(options, deps);
}
