/**
 * An MCP server on the legacy HTTP+SSE transport (2024-11-05) with the official
 * SDK v1 (SSEServerTransport) and the demo tools; records every message.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { buildDemoMcpServer } from '../../src/demo/server.ts';

export interface LegacyServer {
  readonly sseUrl: string;
  readonly received: unknown[];
  readonly executed: string[];
  close(): Promise<void>;
}

export async function startLegacyServer(): Promise<LegacyServer> {
  const received: unknown[] = [];
  const executed: string[] = [];
  const transports = new Map<string, SSEServerTransport>();
  const http: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/sse') {
      const t = new SSEServerTransport('/messages', res);
      transports.set(t.sessionId, t);
      res.on('close', () => transports.delete(t.sessionId));
      buildDemoMcpServer(executed)
        .connect(t)
        .catch(() => res.destroy());
      return;
    }
    if (req.method === 'POST' && url.pathname === '/messages') {
      const t = transports.get(url.searchParams.get('sessionId') ?? '');
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (!t) {
          res.writeHead(404).end('unknown session');
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        received.push(body);
        t.handlePostMessage(req, res, body).catch(() => res.destroy());
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  return {
    sseUrl: `http://127.0.0.1:${port}/sse`,
    received,
    executed,
    async close() {
      for (const t of transports.values()) await t.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
