/**
 * Metrics of the audit pipeline, per sink: what was queued, delivered,
 * spooled, replayed and lost, how long delivery took and how late events
 * reached their sink.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { BoundCounter, BoundHistogram } from './bound-metrics.ts';
import { AUDIT_DELAY_BUCKETS } from './labels.ts';

/** `sink` is one of file, clickhouse, splunk, datadog: fixed by the code, whatever the configuration. */
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
  readonly spoolMaxBytes: Gauge<'sink'>;
  readonly delaySeconds: Histogram<'sink'>;
}

export function createAuditMetrics(registry: Registry): AuditMetrics {
  const registers = [registry];
  return {
    queued: new BoundCounter({
      name: 'sark_audit_events_queued_total',
      help: 'Audit events accepted into the in-memory queue, by sink.',
      labelNames: ['sink'],
      registers,
    }),
    sent: new BoundCounter({
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
      help: 'Audit events lost, by sink and reason (queue_full, spool_full, spool_error, corrupt_line, closed, encode_error, file_error). Alert on any increase.',
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
    spoolMaxBytes: new Gauge({
      name: 'sark_audit_spool_max_bytes',
      help: 'Size cap of the local spool (auditSpoolMaxBytes), by sink; past it batches are dropped (spool_full).',
      labelNames: ['sink'],
      registers,
    }),
    delaySeconds: new BoundHistogram({
      name: 'sark_audit_delay_seconds',
      help: 'Time from the decision (the event time) to the sink acknowledging the event, live or replayed, by sink.',
      labelNames: ['sink'],
      buckets: AUDIT_DELAY_BUCKETS,
      registers,
    }),
  };
}
