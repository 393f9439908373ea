/**
 * Connection metrics of one listener beside its guard's: accepted, and
 * refused before a request could be read — past `server.maxConnections`
 * (Node's 'drop' event, the guard's backstop), or closed by the HTTP parser
 * (malformed request, headers too large, request timeout). Counts sockets,
 * not requests: a keep-alive connection carries many.
 */
import type { Server } from 'node:http';
import type { RuntimeMetrics } from './metrics-runtime.ts';

export type ListenerName = 'data' | 'api' | 'admin';

/**
 * Counts what the listener's connection guard (src/listen/connections.ts)
 * does not: accepted connections, and those the HTTP parser closes. The open
 * gauge and the max_connections refusals are the guard's own.
 */
export function trackConnections(server: Server, metrics: RuntimeMetrics, listener: ListenerName): void {
  const accepted = metrics.connectionsAccepted.labels(listener);
  server.on('connection', () => accepted.inc());
  server.on('drop', () => metrics.connectionsRefused.labels(listener, 'max_connections').inc());
  // Runs beside the listener's own clientError handler (which answers and closes); this one only counts.
  server.on('clientError', (err: NodeJS.ErrnoException) => {
    const reason = refusalReason(err.code);
    if (reason !== undefined) metrics.connectionsRefused.labels(listener, reason).inc();
  });
}

function refusalReason(code: string | undefined): string | undefined {
  if (code === 'ECONNRESET' || code === undefined) return undefined;
  if (code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') return 'request_timeout';
  return 'malformed_request';
}
