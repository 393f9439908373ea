/**
 * HTTP listeners. The data listener carries MCP traffic only; the admin
 * listener (separate address, never exposed with the data port) serves health,
 * readiness and metrics.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitAddress } from '../config/load.ts';

export async function listen(
  address: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: { keepAliveTimeoutMs?: number } = {},
): Promise<{ server: Server; url: string }> {
  const server = createServer({ keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000, requestTimeout: 0 }, handler);
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
