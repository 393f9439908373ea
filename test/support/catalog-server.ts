/**
 * An SDK v1 MCP server (stateful Streamable HTTP) whose catalogue mixes what
 * a caller may and may not see: prompts `ok_greeting`, `ok_summary` and
 * `secret_prompt`; resources `file:///public/readme` and `secret://keys`;
 * templates `file:///public/{name}` and `secret://{id}`, all with
 * completions; and an `echo` tool that takes any arguments. It records every
 * JSON-RPC message it receives, so a test can tell what SARK let through.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface CatalogServer {
  readonly url: string;
  readonly received: unknown[];
  close(): Promise<void>;
}

function build(): McpServer {
  const mcp = new McpServer({ name: 'catalog', version: '1.0.0' }, { capabilities: { completions: {} } });
  mcp.registerTool('echo', { description: 'Echo', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  for (const name of ['ok_greeting', 'ok_summary', 'secret_prompt']) {
    mcp.registerPrompt(
      name,
      {
        description: name,
        argsSchema: { topic: completable(z.string(), (v) => [`${name}:${v}:1`, `${name}:${v}:2`]) },
      },
      ({ topic }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `${name} ${topic}` } }] }),
    );
  }
  mcp.registerResource('readme', 'file:///public/readme', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'readme' }],
  }));
  mcp.registerResource('keys', 'secret://keys', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'AKIA-secret' }],
  }));
  mcp.registerResource(
    'public-file',
    new ResourceTemplate('file:///public/{name}', { list: undefined, complete: { name: (v) => [`${v}doc`] } }),
    { mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, text: 'public' }] }),
  );
  mcp.registerResource(
    'secret-item',
    new ResourceTemplate('secret://{id}', { list: undefined, complete: { id: (v) => [`${v}-key-1`, `${v}-key-2`] } }),
    { mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, text: 'secret' }] }),
  );
  return mcp;
}

export async function startCatalogServer(options: { responses: 'json' | 'sse' }): Promise<CatalogServer> {
  const received: unknown[] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const http: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text ? JSON.parse(text) : undefined;
      if (body !== undefined) for (const m of Array.isArray(body) ? body : [body]) received.push(m);
      const sid = req.headers['mcp-session-id'];
      let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
      if (!transport) {
        if (typeof sid === 'string') {
          res
            .writeHead(404, { 'content-type': 'application/json' })
            .end('{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}');
          return;
        }
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          enableJsonResponse: options.responses === 'json',
          onsessioninitialized: (id) => {
            transports.set(id, transport!);
          },
        });
        await build().connect(transport);
      }
      await transport.handleRequest(req, res, body);
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    received,
    async close() {
      for (const t of transports.values()) await t.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
