/**
 * OpenTelemetry tracing, off by default. The request path sees only this
 * small API; when tracing is off `startRequest` returns undefined and nothing
 * else runs (the exporter module is not even loaded: otlp.ts is imported
 * dynamically only when an endpoint is configured).
 *
 *   const span = tracer.startRequest(req.headers, 'POST /mcp');   // continues the client's trace
 *   const p = span?.child('sark.policy', {...});                  // child spans
 *   headers.traceparent = traceparentFor(p)                       // W3C Trace Context to OPA / upstream
 *   p?.end({ 'sark.policy.cache': 'l1' });
 *
 * Trace context is W3C Trace Context Level 1 (https://www.w3.org/TR/trace-context/):
 * a valid `traceparent` from the client is continued (same trace id, our span
 * is its child, its sampled flag is obeyed: parent-based sampling as the
 * OpenTelemetry SDK's default), an invalid or missing one starts a new trace
 * sampled at `sampleRatio`. `tracestate` is passed on unchanged.
 */

export type SpanAttributes = Readonly<Record<string, string | number | boolean | undefined>>;

/** Span kinds as OTLP numbers them (opentelemetry-proto trace.proto, Span.SpanKind). */
export const SpanKind = { internal: 1, server: 2, client: 3 } as const;

export interface RequestSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** The client's tracestate, carried to every outgoing call. */
  readonly traceState: string | undefined;
  /** A child span (identity, policy decision, upstream call…); `client` for a call to another service. */
  child(name: string, attributes?: SpanAttributes, kind?: keyof typeof SpanKind): RequestSpan;
  setAttributes(attributes: SpanAttributes): void;
  /** Ends the span (once; later calls do nothing). `error` marks it failed with that message. */
  end(attributes?: SpanAttributes, error?: string): void;
}

export interface Tracer {
  readonly enabled: boolean;
  /** The server span of one HTTP request, or undefined when tracing is off or the trace is not sampled. */
  startRequest(headers: TraceHeaders, name: string, attributes?: SpanAttributes): RequestSpan | undefined;
  /** Exports what is queued and waits for it (bounded by the export timeout). */
  close(): Promise<void>;
}

/** The incoming request's headers (node's IncomingHttpHeaders and headersDistinct both fit). */
export type TraceHeaders = Readonly<Record<string, string | string[] | undefined>>;

export interface TracingOptions {
  /** OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces; unset: tracing off. */
  readonly endpoint: string | undefined;
  readonly serviceName: string;
  readonly serverId: string;
  /** Share of new traces (no sampled parent) that are recorded, 0..1. */
  readonly sampleRatio: number;
  readonly maxQueueSpans: number;
  readonly maxBatchSpans: number;
  readonly exportIntervalMs: number;
  readonly exportTimeoutMs: number;
  /** Extra headers for the collector (e.g. an API key), `name=value` pairs. */
  readonly headers?: Readonly<Record<string, string>>;
}

export const disabledTracer: Tracer = {
  enabled: false,
  startRequest: () => undefined,
  close: async () => {},
};

/** The `traceparent` an outgoing call carries so that the callee's spans are children of `span`. */
export function traceparentFor(span: RequestSpan): string {
  return `00-${span.traceId}-${span.spanId}-01`;
}

/** `traceparent` (and `tracestate` when the client sent one) for an outgoing call. */
export function propagationHeaders(span: RequestSpan): Record<string, string> {
  const headers: Record<string, string> = { traceparent: traceparentFor(span) };
  if (span.traceState !== undefined) headers.tracestate = span.traceState;
  return headers;
}

export interface ParentContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Parses a `traceparent` value (Trace Context §3.2): lower-case hex, version
 * ff invalid, version 00 exactly four fields, all-zero ids invalid. A repeated
 * header is invalid too (§3.2.1 says a vendor receiving several should treat
 * them as invalid): an attacker must not pick which one SARK continues.
 */
export function parseTraceparent(value: string | string[] | undefined): ParentContext | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length !== 1) return undefined;
    value = value[0]!;
  }
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId: traceId!, spanId: spanId!, sampled: (Number.parseInt(flags!, 16) & 1) === 1 };
}

/** The trace id for log lines: the span's, else the client's valid traceparent's (tracing off), else undefined. */
export function traceIdOf(span: RequestSpan | undefined, headers?: TraceHeaders): string | undefined {
  if (span !== undefined) return span.traceId;
  return headers ? parseTraceparent(headers.traceparent)?.traceId : undefined;
}

/**
 * Builds the tracer. With no endpoint this is `disabledTracer` and the OTLP
 * exporter is never imported, so tracing costs nothing when off.
 */
export async function createTracer(options: TracingOptions, deps: import('./otlp.ts').OtlpDeps = {}): Promise<Tracer> {
  if (!options.endpoint) return disabledTracer;
  const { createOtlpTracer } = await import('./otlp.ts');
  return createOtlpTracer(options, deps);
}
