/**
 * The golden signals of the request path, observed with one call per MCP
 * message (`done`) and one per upstream exchange (`upstream`), so a pipeline
 * stage never handles label sets itself. Label children are bound once per
 * label combination and kept (prom-client's `labels()` builds a label object
 * on every call; the request path's CPU profile showed label look-ups).
 *
 * What is measured:
 * - duration: arrival → SARK's answer complete (the upstream's answer fully
 *   relayed, or SARK's own refusal). Long-lived streams (the GET stream, the
 *   legacy SSE stream) are counted but not timed: their "duration" is the
 *   session's, not a request's.
 * - overhead: arrival → the moment the message was handed to the upstream
 *   (parse, identity, policy, obligations), or → the refusal. This is what
 *   SARK adds to a call and what the latency budget is about.
 * - tool calls: the same count and duration per tool, with the bounded tool
 *   label (labels.ts).
 */
import type { Counter, Histogram } from 'prom-client';
import { METHOD_LABELS, OTHER, statusClass, type ToolLabels } from './labels.ts';

export type RequestOutcome = 'allow' | 'deny' | 'error';

export interface RequestDone {
  /** The method label (labels.ts `methodLabel`); anything unknown counts as `other`. */
  readonly method: string;
  readonly outcome: RequestOutcome;
  /** performance.now() when the HTTP request arrived. */
  readonly t0: number;
  /** performance.now() when the message was handed to the upstream; unset when it never was. */
  readonly forwardedAt?: number | undefined;
  /** The tool name of a tools/call. */
  readonly tool?: string | undefined;
  /** A long-lived stream: counted, not timed. */
  readonly stream?: boolean | undefined;
}

/** An upstream exchange: its HTTP status and time to response headers, or the failure that replaced it. */
export type UpstreamExchange =
  | { readonly status: number; readonly headersMs: number }
  | { readonly failure: 'unavailable' | 'timeout' };

export interface RequestMetricsSources {
  readonly requests: Counter<'method' | 'outcome'>;
  readonly requestSeconds: Histogram<'method' | 'outcome'>;
  readonly overheadSeconds: Histogram<'method' | 'outcome'>;
  readonly toolCalls: Counter<'tool' | 'outcome'>;
  readonly toolSeconds: Histogram<'tool'>;
  readonly upstreamRequests: Counter<'status_class'>;
  readonly upstreamSeconds: Histogram<'status_class'>;
  readonly tools: ToolLabels;
}

interface MethodChildren {
  readonly count: { inc(): void };
  readonly duration: { observe(v: number): void };
  readonly overhead: { observe(v: number): void };
}

export class RequestMetrics {
  readonly #m: RequestMetricsSources;
  readonly #methods = new Map<string, MethodChildren>();
  readonly #tools = new Map<string, { count: { inc(): void } }>();
  readonly #toolSeconds = new Map<string, { observe(v: number): void }>();
  readonly #upstream = new Map<string, { count: { inc(): void }; seconds: { observe(v: number): void } }>();

  constructor(sources: RequestMetricsSources) {
    this.#m = sources;
  }

  /** One MCP message is answered (or forwarded, for a stream). */
  done(d: RequestDone, now: number = performance.now()): void {
    const method = METHOD_LABELS.has(d.method) ? d.method : OTHER;
    const key = `${method} ${d.outcome}`;
    let c = this.#methods.get(key);
    if (c === undefined) {
      c = {
        count: this.#m.requests.labels(method, d.outcome),
        duration: this.#m.requestSeconds.labels(method, d.outcome),
        overhead: this.#m.overheadSeconds.labels(method, d.outcome),
      };
      this.#methods.set(key, c);
    }
    c.count.inc();
    c.overhead.observe(((d.forwardedAt ?? now) - d.t0) / 1000);
    if (!d.stream) c.duration.observe((now - d.t0) / 1000);
    if (method !== 'tools/call') return;

    const tool = this.#m.tools.label(d.tool);
    const tkey = `${tool} ${d.outcome}`;
    let t = this.#tools.get(tkey);
    if (t === undefined) {
      t = { count: this.#m.toolCalls.labels(tool, d.outcome) };
      this.#tools.set(tkey, t);
    }
    t.count.inc();
    // Only calls the MCP server ran: a refusal's time says nothing about the tool.
    if (d.forwardedAt === undefined) return;
    let s = this.#toolSeconds.get(tool);
    if (s === undefined) {
      s = this.#m.toolSeconds.labels(tool);
      this.#toolSeconds.set(tool, s);
    }
    s.observe((now - d.t0) / 1000);
  }

  /** One exchange with the MCP server (a batch is one exchange). */
  upstream(x: UpstreamExchange): void {
    const cls = 'failure' in x ? x.failure : statusClass(x.status);
    let u = this.#upstream.get(cls);
    if (u === undefined) {
      u = { count: this.#m.upstreamRequests.labels(cls), seconds: this.#m.upstreamSeconds.labels(cls) };
      this.#upstream.set(cls, u);
    }
    u.count.inc();
    if ('headersMs' in x) u.seconds.observe(x.headersMs / 1000);
  }
}
