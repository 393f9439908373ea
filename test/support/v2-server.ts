/**
 * A real MCP server on the official SDK v2 (`@modelcontextprotocol/server`
 * 2.4, `createMcpHandler` behind `toNodeHandler`), on loopback and an ephemeral
 * port, with the same tools as the v1 demo server (src/demo/server.ts) plus a
 * couple of resources and prompts. It serves both eras from one factory:
 * 2026-07-28 envelopes through the SDK's modern path, 2025 calls statelessly.
 *
 * Like the demo server it parses each POST body before handing it over, and
 * records every JSON-RPC message, every HTTP request's headers (raw, so a
 * repeated header is visible) and every tool executed: the tests prove from
 * this record what did and did not reach the server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeStreamableHTTPServerTransport, toNodeHandler, toWebRequest } from '@modelcontextprotocol/node';
import { type CacheHint, createMcpHandler, isLegacyRequest, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { withJsonBody } from '../../src/demo/json-body.ts';

export const V2_TOOLS = ['echo', 'add', 'get_time', 'delete_file'] as const;
export const V2_RESOURCES = { readme: 'demo://readme', secret: 'secret://keys' } as const;
export const V2_PROMPTS = ['greeting', 'summarize'] as const;

export interface V2ServerOptions {
  /**
   * 'json': answer with a single JSON body where the SDK allows it (modern
   * `responseMode: 'auto'`, which still upgrades to SSE when a tool emits
   * progress first; 2025 calls with `enableJsonResponse`). 'sse': always
   * stream (modern `responseMode: 'sse'`; 2025 calls through the SDK's own
   * stateless fallback, which streams).
   */
  responses?: 'json' | 'sse';
  path?: string;
  /**
   * `ttlMs` / `cacheScope` the server puts on its 2026-07-28 tools/list
   * results (SDK default: 0 ms, private). A long, public hint lets a test see
   * whether SARK lets a list it filtered for one caller be shared or kept.
   */
  toolsListCacheHint?: CacheHint;
}

export interface ReceivedRequest {
  readonly httpMethod: string;
  /** Lower-cased header name → every value received, in order (a repeated header has several). */
  readonly headers: Readonly<Record<string, string[]>>;
  /** The parsed body (POST), or undefined. */
  readonly body: unknown;
}

export interface V2Server {
  readonly url: string;
  /** Every JSON-RPC message received, in order (batches flattened). */
  readonly received: unknown[];
  /** Every HTTP request received, with its headers. */
  readonly requests: ReceivedRequest[];
  /** Tool calls executed, by tool name, in order. */
  readonly executed: string[];
  /** Publishes `notifications/resources/updated` on open `subscriptions/listen` streams. */
  resourceUpdated(uri: string): void;
  /** Publishes `notifications/tools/list_changed` on open `subscriptions/listen` streams. */
  toolsChanged(): void;
  close(): Promise<void>;
}

function headersOf(req: IncomingMessage): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const values = out[name] ?? [];
    values.push(req.rawHeaders[i + 1]!);
    out[name] = values;
  }
  return out;
}

function buildServer(executed: string[], toolsListCacheHint: CacheHint | undefined): McpServer {
  const server = new McpServer(
    { name: 'sark-demo-v2', version: '2.0.0' },
    {
      capabilities: { logging: {}, resources: { subscribe: true, listChanged: true } },
      ...(toolsListCacheHint ? { cacheHints: { 'tools/list': toolsListCacheHint } } : {}),
    },
  );
  server.registerTool(
    'echo',
    { description: 'Echo the given text back', inputSchema: z.object({ text: z.string() }) },
    async ({ text }) => {
      executed.push('echo');
      return { content: [{ type: 'text', text }] };
    },
  );
  server.registerTool(
    'add',
    { description: 'Add two numbers', inputSchema: z.object({ a: z.number(), b: z.number() }) },
    async ({ a, b }) => {
      executed.push('add');
      return { content: [{ type: 'text', text: String(a + b) }] };
    },
  );
  server.registerTool(
    'get_time',
    { description: 'Current server time (ISO 8601), after a progress notification' },
    async (ctx) => {
      executed.push('get_time');
      const token = ctx.mcpReq._meta?.progressToken;
      if (token !== undefined) {
        // A related message before the result: `auto` upgrades the response to SSE.
        await ctx.mcpReq.notify({
          method: 'notifications/progress',
          params: { progressToken: token, progress: 1, total: 1 },
        });
      }
      return { content: [{ type: 'text', text: new Date().toISOString() }] };
    },
  );
  server.registerTool(
    'delete_file',
    {
      description: 'Delete a file (demo: does nothing; the starter policy denies it)',
      inputSchema: z.object({ path: z.string() }),
    },
    async ({ path }) => {
      executed.push('delete_file');
      return { content: [{ type: 'text', text: `pretended to delete ${path}` }] };
    },
  );
  server.registerResource('readme', V2_RESOURCES.readme, { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'SARK demo server (SDK v2)' }],
  }));
  server.registerResource('keys', V2_RESOURCES.secret, { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'not for everyone' }],
  }));
  server.registerPrompt(
    'greeting',
    { description: 'Greet someone', argsSchema: z.object({ name: z.string() }) },
    ({ name }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Say hello to ${name}` } }],
    }),
  );
  server.registerPrompt('summarize', { description: 'Summarize the conversation' }, () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'Summarize the conversation so far' } }],
  }));
  return server;
}

export async function startV2Server(options: V2ServerOptions = {}): Promise<V2Server> {
  const path = options.path ?? '/mcp';
  const responses = options.responses ?? 'json';
  const received: unknown[] = [];
  const requests: ReceivedRequest[] = [];
  const executed: string[] = [];
  const factory = () => buildServer(executed, options.toolsListCacheHint);

  // SSE: the SDK entry as shipped, including its stateless 2025 fallback (which
  // always streams). JSON: the entry is modern-only and 2025 calls go to a
  // stateless transport with JSON responses, routed by the SDK's own predicate.
  const handler = createMcpHandler(factory, {
    responseMode: responses === 'json' ? 'auto' : 'sse',
    legacy: responses === 'json' ? 'reject' : 'stateless',
    keepAliveMs: 0,
  });
  const modern = toNodeHandler(handler);
  const legacyTransports = new Set<NodeStreamableHTTPServerTransport>();

  async function serve(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    if (responses === 'json' && (await isLegacyRequest(await toWebRequest(req, body), body))) {
      const transport = new NodeStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      legacyTransports.add(transport);
      res.on('close', () => {
        legacyTransports.delete(transport);
        transport.close().catch(() => {});
      });
      await factory().connect(transport);
      await transport.handleRequest(req, res, body);
      return;
    }
    await modern(req, res, body);
  }

  const http: Server = createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== path) {
      res.writeHead(404).end();
      return;
    }
    const headers = headersOf(req);
    if (req.method !== 'POST') {
      requests.push({ httpMethod: req.method ?? '', headers, body: undefined });
      serve(req, res, undefined).catch(() => res.destroy());
      return;
    }
    withJsonBody(
      req,
      res,
      (body) => {
        requests.push({ httpMethod: 'POST', headers, body });
        for (const m of Array.isArray(body) ? body : [body]) received.push(m);
        serve(req, res, body).catch(() => res.destroy());
      },
      () => requests.push({ httpMethod: 'POST', headers, body: undefined }),
    );
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    requests,
    executed,
    resourceUpdated: (uri) => handler.notify.resourceUpdated(uri),
    toolsChanged: () => handler.notify.toolsChanged(),
    async close() {
      await handler.close().catch(() => {});
      for (const t of legacyTransports) await t.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
