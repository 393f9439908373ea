/**
 * The MCP Gateway Registry client's metrics (src/decide/registry/), registered only
 * when it is enabled.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * MCP Gateway Registry client (src/decide/registry/), registered only when it is
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
