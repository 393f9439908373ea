/**
 * The recorder the request path hands audit events to. `record` only
 * enqueues: it never blocks and never throws into the request path. The local
 * destinations (file, stdout) are in local.ts, the remote sinks (ClickHouse,
 * Splunk, Datadog) are built in recorder.ts.
 */
import type { AuditEvent } from './event.ts';

export { AUDIT_SCHEMA_VERSION, type AuditEvent } from './event.ts';

export interface AuditRecorder {
  record(event: AuditEvent): void;
  close(): Promise<void>;
}

export const nullRecorder: AuditRecorder = {
  record() {},
  close: async () => {},
};
