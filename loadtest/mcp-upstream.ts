/**
 * A real MCP server for the SDK workload, in its own process, with one cheap
 * tool (`echo`). Prints its URL on stdout.
 *
 *   node loadtest/mcp-upstream.ts --sdk v1   official SDK v1 (@modelcontextprotocol/sdk): stateful,
 *                                            one session per `initialize`, JSON responses
 *                                            (StreamableHTTPServerTransport, enableJsonResponse)
 *   node loadtest/mcp-upstream.ts --sdk v2   official SDK v2 (@modelcontextprotocol/server + /node):
 *                                            2026-07-28 requests, session-less, JSON when the tool
 *                                            sends nothing first (responseMode 'auto')
 *
 * Unlike the test servers (src/demo/server.ts, test/support/v2-server.ts) it
 * records nothing, so its memory and CPU stay those of the SDK itself.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpHandler, McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { withJsonBody } from '../src/demo/json-body.ts';
import { boundLifetime } from './lifetime.ts';

const { values } = parseArgs({ options: { sdk: { type: 'string', default: 'v1' } } });
const PATH = '/mcp';

type Handle = (req: IncomingMessage, res: ServerResponse, body: unknown) => Promise<void>;

function v1(): Handle {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  return async (req, res, body) => {
    const sessionId = req.headers['mcp-session-id'];
    const known = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (known) return known.handleRequest(req, res, body);
    if ((body as { method?: unknown } | undefined)?.method !== 'initialize') {
      res.writeHead(typeof sessionId === 'string' ? 404 : 400, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"no valid session"}}');
      return;
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    const server = new McpServerV1({ name: 'loadtest-v1', version: '1.0.0' });
    server.registerTool(
      'echo',
      { description: 'Echo the text', inputSchema: { text: z.string() } },
      async ({ text }) => ({
        content: [{ type: 'text', text }],
      }),
    );
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };
}

function v2(): Handle {
  const handler = createMcpHandler(
    () => {
      const server = new McpServerV2({ name: 'loadtest-v2', version: '2.0.0' });
      server.registerTool(
        'echo',
        { description: 'Echo the text', inputSchema: z.object({ text: z.string() }) },
        async ({ text }) => ({ content: [{ type: 'text', text }] }),
      );
      return server;
    },
    { responseMode: 'auto', legacy: 'reject', keepAliveMs: 0 },
  );
  return toNodeHandler(handler);
}

const handle = values.sdk === 'v2' ? v2() : v1();

const http = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if ((req.url ?? '').split('?')[0] !== PATH || req.method !== 'POST') {
    res.writeHead(req.method === 'POST' ? 404 : 405).end();
    return;
  }
  withJsonBody(req, res, (body) => {
    handle(req, res, body).catch(() => res.destroy());
  });
});
http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.stdout.write(`http://127.0.0.1:${port}${PATH}\n`);
});
boundLifetime(() => {
  http.closeAllConnections();
  http.close(() => process.exit(0));
});
