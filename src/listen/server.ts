/**
 * HTTP listeners. The data listener carries MCP traffic only; the admin
 * listener (separate address, never exposed with the data port) serves health,
 * readiness and metrics.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { splitAddress } from '../config/load.ts';

export async function listen(
  address: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: { keepAliveTimeoutMs?: number } = {},
): Promise<{ server: Server; url: string }> {
  const server = createServer({ keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000, requestTimeout: 0 }, handler);
  server.on('clientError', answerClientError);
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
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
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
