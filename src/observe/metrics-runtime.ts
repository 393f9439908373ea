/**
 * Metrics of the process around the request path: listener connections,
 * sessions, tracing export, the registry client and the injection webhook.
 * `listener` is data or admin; `transport` is streamable_http or legacy_sse.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface RuntimeMetrics {
  readonly connectionsOpen: Gauge<'listener'>;
  readonly connectionsAccepted: Counter<'listener'>;
  readonly connectionsRefused: Counter<'listener' | 'reason'>;
  readonly sessionsOpen: Gauge<'transport'>;
  readonly tracingSpansExported: Counter;
  readonly tracingSpansDropped: Counter<'reason'>;
  readonly registryLastSync: Gauge;
  /**
   * Registers what holds a transport's sessions; `sark_sessions_open` reads it
   * at each scrape (no per-session bookkeeping on the request path).
   */
  countSessions(transport: SessionTransport, read: () => number): void;
}

export type SessionTransport = 'streamable_http' | 'legacy_sse';

export function createRuntimeMetrics(registry: Registry): RuntimeMetrics {
  const registers = [registry];
  const sessionSources = new Map<SessionTransport, () => number>();
  return {
    countSessions(transport, read) {
      sessionSources.set(transport, read);
    },
    connectionsOpen: new Gauge({
      name: 'sark_connections_open',
      help: 'TCP connections open on a listener (data, admin).',
      labelNames: ['listener'],
      registers,
    }),
    connectionsAccepted: new Counter({
      name: 'sark_connections_accepted_total',
      help: 'TCP connections accepted by a listener (data, admin).',
      labelNames: ['listener'],
      registers,
    }),
    connectionsRefused: new Counter({
      name: 'sark_connections_refused_total',
      help: 'Connections closed by SARK before a request was read, by listener and reason (max_connections, malformed_request, headers_too_large, request_timeout).',
      labelNames: ['listener', 'reason'],
      registers,
    }),
    sessionsOpen: new Gauge({
      name: 'sark_sessions_open',
      help: 'MCP sessions SARK holds state for, by transport (legacy_sse today; streamable_http once 2025 sessions are bound to their principal).',
      labelNames: ['transport'],
      registers,
      collect() {
        for (const [transport, read] of sessionSources) this.labels(transport).set(read());
      },
    }),
    tracingSpansExported: new Counter({
      name: 'sark_tracing_spans_exported_total',
      help: 'Spans the OTLP collector acknowledged (tracing on only).',
      registers,
    }),
    tracingSpansDropped: new Counter({
      name: 'sark_tracing_spans_dropped_total',
      help: 'Spans lost, by reason (queue_full: the export queue was full; export_failed: the collector refused or was unreachable).',
      labelNames: ['reason'],
      registers,
    }),
    registryLastSync: new Gauge({
      name: 'sark_registry_last_sync_timestamp_seconds',
      help: 'Unix time of the last successful MCP Gateway Registry sync; 0 until the first one (and while no registry is configured). Staleness is time() minus this.',
      registers,
    }),
  };
}

/**
 * The admission webhook's own metric, declared here so that it has one name
 * and one meaning wherever the webhook runs (src/inject registers it on its
 * registry): alerts/dashboards in deploy/ use it.
 */
export interface WebhookMetrics {
  readonly certExpiry: Gauge;
}

export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  return {
    certExpiry: new Gauge({
      name: 'sark_webhook_cert_expiry_timestamp_seconds',
      help: 'Unix time at which the serving certificate of the injection webhook expires (notAfter of the leaf in use).',
      registers: [registry],
    }),
  };
}
