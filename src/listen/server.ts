/**
 * HTTP listeners. The data listener carries MCP traffic only; the admin
 * listener (separate address, never exposed with the data port) serves health,
 * readiness and metrics. Both cut off clients too slow to send a request, and
 * the data listener caps its connections (connections.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { splitAddress } from '../config/load.ts';
import type { SarkConfig } from '../config/schema.ts';
import type { ListenerMetrics } from '../observe/metrics.ts';
import { type ConnectionLimits, guardConnections, serverTimeouts } from './connections.ts';

export type { ConnectionLimits };

export interface ListenOptions {
  /** Names the listener in metrics (data, admin). */
  name?: string;
  keepAliveTimeoutMs?: number;
  limits?: ConnectionLimits;
  metrics?: ListenerMetrics | undefined;
}

/** The limits the configuration sets; the admin listener takes the deadlines but not the cap. */
export function connectionLimits(
  config: Pick<SarkConfig, 'headersTimeoutMs' | 'requestTimeoutMs' | 'requestBodyIdleTimeoutMs' | 'maxConnections'>,
  listener: 'data' | 'admin' = 'data',
): ConnectionLimits {
  return {
    headersTimeoutMs: config.headersTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    bodyIdleTimeoutMs: config.requestBodyIdleTimeoutMs,
    maxConnections: listener === 'data' ? config.maxConnections : 0,
  };
}

/** Deadlines used when a caller gives none: the configuration's defaults. */
const DEFAULT_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  bodyIdleTimeoutMs: 10_000,
  maxConnections: 0,
};

export async function listen(
  address: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: ListenOptions = {},
): Promise<{ server: Server; url: string }> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const server = createServer(
    { keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000, ...serverTimeouts(limits) },
    handler,
  );
  server.on('clientError', answerClientError);
  guardConnections(server, options.name ?? 'data', limits, options.metrics);
  const { host, port } = splitAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return { server, url: `http://${shownHost}:${bound.port}` };
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Long-lived SSE streams would hold shutdown open forever.
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
  });
}

/**
 * Requests the HTTP parser refuses (conflicting Content-Length and
 * Transfer-Encoding, bad chunking, oversized headers, …) never reach the
 * pipeline: they get a JSON-RPC error and the connection is closed, since
 * where the next request would start is unknowable (request smuggling).
 * Timeouts are answered by connections.ts.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return;
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: null,
    error: { code: -32600, message: tooLarge ? 'Request headers too large' : 'Bad Request: malformed HTTP request' },
  });
  socket.end(
    `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-sark-error: SARK_INVALID_REQUEST\r\nconnection: close\r\n\r\n${body}`,
  );
}
