/**
 * The Prometheus registry and every SARK metric. Labels are bounded sets
 * (method class, decision, reason code) so cardinality stays fixed whatever
 * clients send: the MCP method label is the classified method when it is a
 * known MCP method and "other" otherwise.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface SarkMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'method' | 'outcome'>;
  readonly decisions: Counter<'decision' | 'reason'>;
  readonly decisionSeconds: Histogram<'engine'>;
  readonly errors: Counter<'reason'>;
  readonly upstreamSeconds: Histogram<'status'>;
  readonly policyUp: Gauge;
  readonly audit: AuditMetrics;
  readonly decide: DecideMetrics;
  readonly listener: ListenerMetrics;
}

/**
 * The listeners' defences against clients that hold connections (src/listen/connections.ts).
 * `listener` is data or admin; a timeout's `phase` is headers (the headers were not
 * complete), request (the whole request was not complete) or body_idle (the body paused).
 */
export interface ListenerMetrics {
  readonly connections: Gauge<'listener'>;
  readonly refused: Counter<'listener' | 'reason'>;
  readonly timeouts: Counter<'listener' | 'phase'>;
}

export function createListenerMetrics(registry: Registry): ListenerMetrics {
  const registers = [registry];
  return {
    connections: new Gauge({
      name: 'sark_listener_connections',
      help: 'Open client connections, by listener.',
      labelNames: ['listener'],
      registers,
    }),
    refused: new Counter({
      name: 'sark_listener_connections_refused_total',
      help: 'Connections refused on arrival, by listener and reason (max_connections).',
      labelNames: ['listener', 'reason'],
      registers,
    }),
    timeouts: new Counter({
      name: 'sark_listener_request_timeouts_total',
      help: 'Requests cut off because they were not received in time (HTTP 408, connection closed), by listener and phase (headers, request, body_idle).',
      labelNames: ['listener', 'phase'],
      registers,
    }),
  };
}

/**
 * Decision cache, circuit breaker, rate limits and the Redis link behind them.
 * `level` is l1 (in-process) or l2 (Redis); `result` is hit, miss, coalesced
 * (joined an in-flight policy call) or stale (served by degraded mode).
 */
export interface DecideMetrics {
  readonly cacheLookups: Counter<'level' | 'result'>;
  readonly cacheInvalidations: Counter<'source'>;
  readonly cacheEntries: Gauge;
  readonly cacheBytes: Gauge;
  readonly breakerState: Gauge;
  readonly breakerTransitions: Counter<'state'>;
  readonly breakerRejections: Counter;
  readonly rateLimited: Counter<'store'>;
  readonly redisErrors: Counter<'op'>;
  readonly redisUp: Gauge;
}

export function createDecideMetrics(registry: Registry): DecideMetrics {
  const registers = [registry];
  return {
    cacheLookups: new Counter({
      name: 'sark_decision_cache_lookups_total',
      help: 'Decision cache lookups, by level (l1, l2) and result (hit, miss, coalesced, stale).',
      labelNames: ['level', 'result'],
      registers,
    }),
    cacheInvalidations: new Counter({
      name: 'sark_decision_cache_invalidations_total',
      help: 'In-process cache flushes, by source (revision: OPA bundle revision changed; channel: operator publish).',
      labelNames: ['source'],
      registers,
    }),
    cacheEntries: new Gauge({
      name: 'sark_decision_cache_entries',
      help: 'Entries in the in-process cache.',
      registers,
    }),
    cacheBytes: new Gauge({
      name: 'sark_decision_cache_bytes',
      help: 'Approximate bytes held by the in-process cache.',
      registers,
    }),
    breakerState: new Gauge({
      name: 'sark_policy_breaker_state',
      help: 'Policy circuit breaker: 0 closed, 1 half-open, 2 open.',
      registers,
    }),
    breakerTransitions: new Counter({
      name: 'sark_policy_breaker_transitions_total',
      help: 'Policy circuit breaker state changes, by the state entered.',
      labelNames: ['state'],
      registers,
    }),
    breakerRejections: new Counter({
      name: 'sark_policy_breaker_rejections_total',
      help: 'Policy calls denied at once because the breaker was open.',
      registers,
    }),
    rateLimited: new Counter({
      name: 'sark_rate_limited_total',
      help: 'Requests refused by a rate_limit obligation, by bucket store (redis, local).',
      labelNames: ['store'],
      registers,
    }),
    redisErrors: new Counter({
      name: 'sark_redis_errors_total',
      help: 'Redis failures and budget overruns (the request went on without Redis), by operation.',
      labelNames: ['op'],
      registers,
    }),
    redisUp: new Gauge({ name: 'sark_redis_up', help: '1 while the Redis connection is ready.', registers }),
  };
}

/**
 * MCP Gateway Registry client (src/registry/), registered only when it is
 * enabled. `endpoint` is servers, server_details or tools; `outcome` one of
 * the bounded CallOutcome values (ok, not_found, timeout, http_5xx, …).
 */
export interface RegistryMetrics {
  readonly requests: Counter<'endpoint' | 'outcome'>;
  readonly refreshes: Counter<'result'>;
  readonly up: Gauge;
  readonly servers: Gauge;
  readonly breakerState: Gauge;
  /** Seconds since the data in use was read; +Inf before the first read. Computed at scrape time. */
  readonly staleness: Gauge;
  /** Sets what the staleness gauge reports at each scrape. */
  observeAge(seconds: () => number): void;
}

export function createRegistryMetrics(registry: Registry): RegistryMetrics {
  const registers = [registry];
  let age: () => number = () => Number.POSITIVE_INFINITY;
  return {
    requests: new Counter({
      name: 'sark_registry_requests_total',
      help: 'Registry HTTP attempts, by endpoint (servers, server_details, tools) and outcome (ok, not_found, http_4xx, throttled, http_5xx, timeout, network, too_large, malformed, breaker_open).',
      labelNames: ['endpoint', 'outcome'],
      registers,
    }),
    refreshes: new Counter({
      name: 'sark_registry_refreshes_total',
      help: 'Registry refreshes, by result: ok (every call answered), partial (some servers kept their last good record or tools), failed (the last good data stays in use).',
      labelNames: ['result'],
      registers,
    }),
    up: new Gauge({
      name: 'sark_registry_up',
      help: '1 while the last registry refresh succeeded (ok or partial).',
      registers,
    }),
    servers: new Gauge({ name: 'sark_registry_servers', help: 'Servers in the registry data in use.', registers }),
    breakerState: new Gauge({
      name: 'sark_registry_breaker_state',
      help: 'Registry circuit breaker: 0 closed, 1 half-open, 2 open.',
      registers,
    }),
    staleness: new Gauge({
      name: 'sark_registry_staleness_seconds',
      help: 'Seconds since the registry data in use was read (+Inf before the first successful read). Alert when it passes gatewayCacheTtlMs.',
      registers,
      collect() {
        this.set(age());
      },
    }),
    observeAge(seconds) {
      age = seconds;
    },
  };
}

/** Audit pipeline metrics; `sink` is one of file, stdout, clickhouse, splunk, datadog. */
export interface AuditMetrics {
  readonly queued: Counter<'sink'>;
  readonly sent: Counter<'sink'>;
  readonly spilled: Counter<'sink'>;
  readonly replayed: Counter<'sink'>;
  readonly dropped: Counter<'sink' | 'reason'>;
  readonly sinkErrors: Counter<'sink'>;
  readonly batchSeconds: Histogram<'sink'>;
  readonly queueDepth: Gauge<'sink'>;
  readonly spoolBytes: Gauge<'sink'>;
}

export function createAuditMetrics(registry: Registry): AuditMetrics {
  const registers = [registry];
  return {
    queued: new Counter({
      name: 'sark_audit_events_queued_total',
      help: 'Audit events accepted into the in-memory queue, by sink.',
      labelNames: ['sink'],
      registers,
    }),
    sent: new Counter({
      name: 'sark_audit_events_sent_total',
      help: 'Audit events acknowledged by the sink (live and replayed), by sink.',
      labelNames: ['sink'],
      registers,
    }),
    spilled: new Counter({
      name: 'sark_audit_events_spilled_total',
      help: 'Audit events written to the local spool because the sink was down, slow or closing.',
      labelNames: ['sink'],
      registers,
    }),
    replayed: new Counter({
      name: 'sark_audit_events_replayed_total',
      help: 'Audit events read back from the spool and acknowledged by the sink.',
      labelNames: ['sink'],
      registers,
    }),
    dropped: new Counter({
      name: 'sark_audit_events_dropped_total',
      help: 'Audit events lost, by sink and reason (queue_full, spool_full, spool_error, corrupt_line, closed, disk_full, file_error). Alert on any increase.',
      labelNames: ['sink', 'reason'],
      registers,
    }),
    sinkErrors: new Counter({
      name: 'sark_audit_sink_errors_total',
      help: 'Failed batch deliveries (each is spilled and retried with backoff), by sink.',
      labelNames: ['sink'],
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'sark_audit_batch_duration_seconds',
      help: 'Time to deliver one batch to the sink.',
      labelNames: ['sink'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'sark_audit_queue_events',
      help: 'Audit events waiting in memory, by sink.',
      labelNames: ['sink'],
      registers,
    }),
    spoolBytes: new Gauge({
      name: 'sark_audit_spool_bytes',
      help: 'Bytes of audit events waiting in the local spool, by sink.',
      labelNames: ['sink'],
      registers,
    }),
  };
}

export function createMetrics(): SarkMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sark_process_' });
  return {
    registry,
    requests: new Counter({
      name: 'sark_requests_total',
      help: 'MCP messages handled on the data listener, by MCP method and outcome.',
      labelNames: ['method', 'outcome'],
      registers: [registry],
    }),
    decisions: new Counter({
      name: 'sark_decisions_total',
      help: 'Policy decisions, by decision (allow|deny) and reason code.',
      labelNames: ['decision', 'reason'],
      registers: [registry],
    }),
    decisionSeconds: new Histogram({
      name: 'sark_decision_duration_seconds',
      help: 'Time to obtain a policy decision.',
      labelNames: ['engine'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'sark_errors_total',
      help: 'Requests answered with an error by SARK itself, by reason code.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    upstreamSeconds: new Histogram({
      name: 'sark_upstream_duration_seconds',
      help: 'Time until the MCP server answered with headers.',
      labelNames: ['status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    policyUp: new Gauge({
      name: 'sark_policy_engine_up',
      help: '1 while the policy engine answered its last health probe.',
      registers: [registry],
    }),
    audit: createAuditMetrics(registry),
    decide: createDecideMetrics(registry),
    listener: createListenerMetrics(registry),
  };
}
