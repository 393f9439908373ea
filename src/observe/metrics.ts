/**
 * The Prometheus registry and every SARK metric (docs/observability.md lists
 * them with their labels and the alerts that use them). Rules every metric
 * here follows:
 *
 * - Labels are bounded sets fixed by the code, the configuration or the
 *   policy catalogue (labels.ts): never an agent id, session id, argument,
 *   URI or policy-provided text. Unknown values are `other`.
 * - A metric says what it measures and nothing more: `sark_policy_engine_up`
 *   is the engine answering decisions (decide/engine-health.ts), not a bundle
 *   status or the last /readyz probe.
 * - Every series carries `server` (the protected server's id, constant per
 *   process) so that one dashboard can show many sidecars per server.
 * - Histograms use the buckets of labels.ts: tens of microseconds to seconds
 *   for SARK's own work, to a minute for what includes the MCP server.
 *
 * The process metrics are prom-client's defaults under their standard names
 * (process_*, nodejs_*, event-loop lag included), so stock Node.js dashboards
 * and alerts work unchanged.
 */
import { readFileSync } from 'node:fs';
import { Counter, collectDefaultMetrics, Gauge, type Histogram, Registry } from 'prom-client';
import { BoundCounter, BoundHistogram } from './bound-metrics.ts';
import { FAST_BUCKETS, ReasonLabels, SLOW_BUCKETS, ToolLabels } from './labels.ts';
import { type AuditMetrics, createAuditMetrics } from './metrics-audit.ts';
import { createDecideMetrics, type DecideMetrics } from './metrics-decide.ts';
import { createRuntimeMetrics, type RuntimeMetrics } from './metrics-runtime.ts';
import { RequestMetrics } from './request-metrics.ts';

export { type AuditMetrics, createAuditMetrics } from './metrics-audit.ts';
export { createDecideMetrics, type DecideMetrics } from './metrics-decide.ts';
export { createRegistryMetrics, type RegistryMetrics } from './metrics-registry.ts';
export {
  createRuntimeMetrics,
  createWebhookMetrics,
  type RuntimeMetrics,
  type WebhookMetrics,
} from './metrics-runtime.ts';

/** Labels Prometheus itself adds to every series it scrapes; dashboards may use them on any metric. */
export const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'container'] as const;
/** The label SARK adds to every series it exports (`Registry.setDefaultLabels`). */
export const DEFAULT_LABELS = ['server'] as const;

export interface MetricsOptions {
  /** The protected server's id (config serverId): the `server` label on every series. */
  readonly serverId?: string;
  /** Tool names that always get their own `tool` label (config metricsToolNames). */
  readonly toolNames?: readonly string[];
  /** Most tool names that may get their own label (config metricsMaxToolLabels). */
  readonly maxToolLabels?: number;
  /** Policy reason codes beyond the bundled policy's that get their own `reason` label (config metricsReasonCodes). */
  readonly reasonCodes?: readonly string[];
}

export interface SarkMetrics {
  readonly registry: Registry;
  /** Bounded `reason` values: catalogue, bundled policy, configured; else `other`. */
  readonly reasons: ReasonLabels;
  /** Bounded `tool` values: configured, policy catalogue (fed by the decide stage); else `other`. */
  readonly tools: ToolLabels;
  /** The per-message golden signals; the request path calls `request.done` and `request.upstream`. */
  readonly request: RequestMetrics;
  readonly requests: Counter<'method' | 'outcome'>;
  readonly requestSeconds: Histogram<'method' | 'outcome'>;
  readonly overheadSeconds: Histogram<'method' | 'outcome'>;
  readonly toolCalls: Counter<'tool' | 'outcome'>;
  readonly toolSeconds: Histogram<'tool'>;
  readonly decisions: Counter<'decision' | 'reason'>;
  readonly decisionSeconds: Histogram<'engine' | 'cache'>;
  readonly errors: Counter<'reason'>;
  readonly upstreamRequests: Counter<'status_class'>;
  readonly upstreamSeconds: Histogram<'status_class'>;
  readonly policyUp: Gauge;
  readonly audit: AuditMetrics;
  readonly decide: DecideMetrics;
  readonly runtime: RuntimeMetrics;
  /** The listeners' defences (src/listen/connections.ts): open connections, refusals, request deadlines. */
  readonly listener: ListenerMetrics;
}

/**
 * What the listeners' connection guard counts, on the runtime metrics'
 * series (one name per meaning): `listener` is data, api or admin; a
 * timeout's `phase` is headers, request or body_idle.
 */
export interface ListenerMetrics {
  readonly connections: Gauge<'listener'>;
  readonly refused: Counter<'listener' | 'reason'>;
  readonly timeouts: Counter<'listener' | 'phase'>;
}

const VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
})();

export function createMetrics(options: MetricsOptions = {}): SarkMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ server: options.serverId ?? 'demo' });
  // Event-loop lag (nodejs_eventloop_lag_*) is sampled by monitorEventLoopDelay at this resolution, in ms.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const registers = [registry];
  const reasons = new ReasonLabels(options.reasonCodes);
  const tools = new ToolLabels(options.toolNames ?? [], options.maxToolLabels ?? 200);

  new Gauge({
    name: 'sark_build_info',
    help: 'Always 1; the version label says which SARK this is.',
    labelNames: ['version'],
    registers,
  }).set({ version: VERSION }, 1);

  const requests = new BoundCounter({
    name: 'sark_requests_total',
    help: 'MCP messages handled on the data listener, by MCP method and outcome (allow: forwarded; deny: refused by policy, rate limit or obligation; error: SARK or the upstream failed).',
    labelNames: ['method', 'outcome'],
    registers,
  });
  const requestSeconds = new BoundHistogram({
    name: 'sark_request_duration_seconds',
    help: 'Arrival to the answer complete (the upstream answer relayed, or the refusal), by method and outcome; long-lived streams are not timed.',
    labelNames: ['method', 'outcome'],
    buckets: SLOW_BUCKETS,
    registers,
  });
  const overheadSeconds = new BoundHistogram({
    name: 'sark_request_overhead_seconds',
    help: "SARK's own time per message: arrival to the hand-off to the upstream (or to the refusal), by method and outcome.",
    labelNames: ['method', 'outcome'],
    buckets: FAST_BUCKETS,
    registers,
  });
  const toolCalls = new BoundCounter({
    name: 'sark_tool_calls_total',
    help: 'tools/call messages, by tool (known tools only, else other) and outcome.',
    labelNames: ['tool', 'outcome'],
    registers,
  });
  const toolSeconds = new BoundHistogram({
    name: 'sark_tool_call_duration_seconds',
    help: 'Forwarded tools/call messages: arrival to the answer complete, by tool (known tools only, else other).',
    labelNames: ['tool'],
    buckets: SLOW_BUCKETS,
    registers,
  });
  const upstreamRequests = new BoundCounter({
    name: 'sark_upstream_requests_total',
    help: 'Exchanges with the MCP server, by status class (2xx…5xx, client_closed, unavailable, timeout).',
    labelNames: ['status_class'],
    registers,
  });
  const upstreamSeconds = new BoundHistogram({
    name: 'sark_upstream_duration_seconds',
    help: 'Time until the MCP server answered with headers, by status class.',
    labelNames: ['status_class'],
    buckets: SLOW_BUCKETS,
    registers,
  });

  const runtime = createRuntimeMetrics(registry);
  return {
    registry,
    reasons,
    tools,
    request: new RequestMetrics({
      requests,
      requestSeconds,
      overheadSeconds,
      toolCalls,
      toolSeconds,
      upstreamRequests,
      upstreamSeconds,
      tools,
    }),
    requests,
    requestSeconds,
    overheadSeconds,
    toolCalls,
    toolSeconds,
    decisions: new BoundCounter({
      name: 'sark_decisions_total',
      help: 'Policy decisions (every one the decide stage makes, subscription URIs included), by decision (allow|deny) and reason code (known codes only, else other).',
      labelNames: ['decision', 'reason'],
      registers,
    }),
    decisionSeconds: new BoundHistogram({
      name: 'sark_decision_duration_seconds',
      help: 'Time to obtain a policy decision, by engine (opa, wasm) and cache level that answered (l1, l2, coalesced, stale, none: the engine).',
      labelNames: ['engine', 'cache'],
      buckets: FAST_BUCKETS,
      registers,
    }),
    errors: new Counter({
      name: 'sark_errors_total',
      help: 'Answers that are errors (SARK refused to read the message, or the upstream failed), by catalogue reason code.',
      labelNames: ['reason'],
      registers,
    }),
    upstreamRequests,
    upstreamSeconds,
    policyUp: new Gauge({
      name: 'sark_policy_engine_up',
      help: '1 while the policy engine answers decisions: it answered a decision or a probe within the last second, or has not failed since its last answer; probed every policyProbeIntervalMs when idle.',
      registers,
    }),
    audit: createAuditMetrics(registry),
    decide: createDecideMetrics(registry),
    runtime,
    listener: {
      connections: runtime.connectionsOpen,
      refused: runtime.connectionsRefused,
      timeouts: new Counter({
        name: 'sark_request_timeouts_total',
        help: 'Requests cut off because they were not received in time (HTTP 408, connection closed), by listener and phase (headers: the headers were not complete; request: the whole request was not; body_idle: the body paused too long).',
        labelNames: ['listener', 'phase'],
        registers,
      }),
    },
  };
}
