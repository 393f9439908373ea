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
  };
}
