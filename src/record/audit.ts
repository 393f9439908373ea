/**
 * The audit event (one per decision) and the recorder the request path hands
 * it to. `record` only enqueues: it never blocks and never throws into the
 * request path.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

export const AUDIT_SCHEMA_VERSION = 1;

export interface AuditEvent {
  readonly schema_version: number;
  readonly ts_ms: number;
  readonly request_id: string;
  readonly session_id: string | null;
  readonly agent_id: string;
  readonly agent_type: string;
  readonly tenant: string | null;
  readonly server_id: string;
  readonly method: string | null;
  readonly action: string;
  readonly tool: string | null;
  readonly decision: 'allow' | 'deny';
  readonly reasons: readonly string[];
  readonly policy_ms: number;
  readonly era: string | null;
  readonly client_address: string | null;
}

export interface AuditRecorder {
  record(event: AuditEvent): void;
  close(): Promise<void>;
}

export const nullRecorder: AuditRecorder = {
  record() {},
  close: async () => {},
};

/** Appends NDJSON lines through one buffered write stream. */
export function createFileRecorder(path: string): AuditRecorder {
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  let failed: Error | undefined;
  stream.on('error', (err) => {
    failed = err;
  });
  return {
    record(event) {
      if (failed === undefined) stream.write(`${JSON.stringify(event)}\n`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        stream.end(() => resolve());
      }),
  };
}
