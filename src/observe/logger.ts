/**
 * Structured logging (pino). One event per line; credentials are redacted by
 * path so that a header or config dump can never leak them. Nothing on the
 * request path logs at info level; a line about one request carries its
 * `request_id` and `trace_id` (`requestFields`), so the line, the audit event
 * and the trace can be joined. The level changes at run time through the
 * admin listener (`PUT /loglevel`, loglevel.ts) or SIGUSR2.
 */
import { type LevelWithSilent, type Logger, pino } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const REDACT = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  '*.apiKey',
  '*.token',
  '*.password',
  '*.secret',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sark' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/**
 * The fields every log line about one request carries. `traceId` is the
 * request span's, or the client's traceparent's when tracing is off;
 * undefined fields are left out of the line by pino.
 */
export function requestFields(
  requestId: string | undefined,
  traceId: string | undefined,
): { request_id: string | undefined; trace_id: string | undefined } {
  return { request_id: requestId, trace_id: traceId };
}

export function isLogLevel(value: unknown): value is LevelWithSilent {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}
