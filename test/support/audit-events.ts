/** Synthetic audit events and a quiet logger for the audit pipeline tests and benchmark. */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/observe/logger.ts';
import { AUDIT_SCHEMA_VERSION, type AuditEvent } from '../../src/record/event.ts';

export function auditEvent(overrides: Partial<AuditEvent> = {}): AuditEvent {
  const id = overrides.request_id ?? randomUUID();
  return {
    schema_version: AUDIT_SCHEMA_VERSION,
    ts_ms: Date.now(),
    request_id: id,
    http_request_id: id,
    message_index: 0,
    implied_by: null,
    session_id: null,
    agent_id: 'agent-1',
    agent_type: 'agent',
    tenant: 'acme',
    server_id: 'demo',
    method: 'tools/call',
    action: 'gateway:tool:invoke',
    tool: 'echo',
    era: '2025-session',
    decision: 'allow',
    reasons: [],
    policy_revision: null,
    cache_hit: false,
    total_ms: 1.25,
    policy_ms: 0.125,
    upstream_ms: 0.75,
    upstream_status: 200,
    client_address: '127.0.0.1',
    trace_id: null,
    args_digest: null,
    args_redacted: null,
    ...overrides,
  };
}

/** A logger that keeps what it logs (for asserting that drops are never silent). */
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: createLogger('debug', sink), lines };
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

/**
 * The complete rows of an audit file. The file sink writes a batch at a time
 * (up to 20 ms of rows), so a read can catch a batch half written: its last,
 * partial line is left for the next read. A file not there yet has no rows.
 */
export function auditFileRows(path: string): Record<string, any>[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const end = text.lastIndexOf('\n');
  return end < 0
    ? []
    : text
        .slice(0, end)
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
}
