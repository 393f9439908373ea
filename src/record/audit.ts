/**
 * The recorder the request path hands audit events to, and the embedded
 * default sink: a local NDJSON file. `record` only enqueues: it never blocks
 * and never throws into the request path. Remote sinks (ClickHouse, Splunk,
 * Datadog) are built in recorder.ts.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from '../observe/logger.ts';
import type { AuditMetrics } from '../observe/metrics.ts';
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

/** Bytes the file stream may buffer before events are dropped (and counted) rather than held. */
const FILE_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/**
 * Appends NDJSON lines through one buffered write stream. An event counts as
 * sent (and its delay is observed) when the stream has handed it to the file,
 * not when it was buffered.
 */
export function createFileRecorder(path: string, metrics?: AuditMetrics, logger?: Logger): AuditRecorder {
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  let failed: Error | undefined;
  const sent = metrics?.sent.labels('file');
  const queued = metrics?.queued.labels('file');
  const delay = metrics?.delaySeconds.labels('file');
  const drop = (reason: string) => metrics?.dropped.labels('file', reason).inc();
  stream.on('error', (err) => {
    if (failed === undefined) logger?.error({ err, path }, 'audit file failed; file audit events are now dropped');
    failed = err;
  });
  return {
    record(event) {
      if (failed !== undefined) {
        drop('file_error');
        return;
      }
      if (stream.writableLength > FILE_MAX_BUFFERED_BYTES) {
        drop('queue_full');
        return;
      }
      queued?.inc();
      const ts = event.ts_ms;
      stream.write(`${JSON.stringify(event)}\n`, (err) => {
        if (err) {
          drop('file_error');
          return;
        }
        sent?.inc();
        delay?.observe(Math.max(0, Date.now() - ts) / 1000);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        stream.end(() => resolve());
      }),
  };
}
