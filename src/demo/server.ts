/**
 * The bundled demo MCP server (official SDK v1, Streamable HTTP, sessions),
 * started by `sark serve` when no upstream is configured (src/bundled-demo.ts),
 * and used by the tests as the real upstream. It records the JSON-RPC
 * messages it receives and the tools it runs, so tests can prove that a
 * denied call never reached it — the latest `maxRecorded` of each, so a
 * long-running demo or a load test never grows without bound.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { withJsonBody } from './json-body.ts';

export interface DemoServerOptions {
  host?: string;
  port?: number;
  path?: string;
  /** Answer POSTs with application/json instead of an SSE stream. */
  jsonResponse?: boolean;
  /** Messages (and tool runs) remembered, the latest ones; default 10,000. */
  maxRecorded?: number;
}

export interface DemoServer {
  readonly url: string;
  /** The JSON-RPC messages received, in order (the latest maxRecorded). */
  readonly received: unknown[];
  /** Tool calls executed, by tool name, in order (the latest maxRecorded). */
  readonly executed: string[];
  /** The headers of every HTTP request received, in order (tests check what reaches the server). */
  readonly requestHeaders: IncomingMessage['headers'][];
  close(): Promise<void>;
}

export const DEMO_TOOLS = ['echo', 'add', 'get_time', 'delete_file'] as const;

const DEFAULT_MAX_RECORDED = 10_000;

/**
 * Appends, keeping the latest `max`: past it the oldest half is dropped in
 * one go, so appending stays cheap and indices stay put between trims.
 */
export function remember<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - Math.ceil(max / 2));
}

export function buildDemoMcpServer(executed: string[], maxRecorded = DEFAULT_MAX_RECORDED): McpServer {
  const ran = (tool: string) => remember(executed, tool, maxRecorded);
  const server = new McpServer({ name: 'sark-demo', version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool(
    'echo',
    { description: 'Echo the given text back', inputSchema: { text: z.string() } },
    async ({ text }) => {
      ran('echo');
      return { content: [{ type: 'text', text }] };
    },
  );
  server.registerTool(
    'add',
    { description: 'Add two numbers', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => {
      ran('add');
      return { content: [{ type: 'text', text: String(a + b) }] };
    },
  );
  server.registerTool(
    'get_time',
    { description: 'Current server time (ISO 8601), after a progress notification' },
    async (extra) => {
      ran('get_time');
      const token = extra._meta?.progressToken;
      if (token !== undefined) {
        await extra.sendNotification({
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
      inputSchema: { path: z.string() },
    },
    async ({ path }) => {
      ran('delete_file');
      return { content: [{ type: 'text', text: `pretended to delete ${path}` }] };
    },
  );
  return server;
}

export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const path = options.path ?? '/mcp';
  const maxRecorded = options.maxRecorded ?? DEFAULT_MAX_RECORDED;
  const received: unknown[] = [];
  const executed: string[] = [];
  const requestHeaders: IncomingMessage['headers'][] = [];
  const sessions = new Map<string, StreamableHTTPServerTransport>();

  async function handle(req: IncomingMessage, res: ServerResponse, body: unknown) {
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (!transport) {
      if (typeof sessionId === 'string') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        return;
      }
      const isInit = req.method === 'POST' && (body as { method?: string } | undefined)?.method === 'initialize';
      const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        // A session for initialize; a one-shot stateless transport otherwise,
        // as SDK servers answer 2025 calls without a session.
        sessionIdGenerator: isInit ? () => randomUUID() : undefined,
        enableJsonResponse: options.jsonResponse ?? false,
        onsessioninitialized: (id) => {
          sessions.set(id, t);
        },
      });
      t.onclose = () => {
        if (t.sessionId) sessions.delete(t.sessionId);
      };
      await buildDemoMcpServer(executed, maxRecorded).connect(t);
      transport = t;
    }
    await transport.handleRequest(req, res, body);
  }

  const http: Server = createServer((req, res) => {
    requestHeaders.push(req.headers);
    if ((req.url ?? '').split('?')[0] !== path) {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'POST') {
      handle(req, res, undefined).catch(() => res.destroy());
      return;
    }
    withJsonBody(req, res, (body) => {
      for (const m of Array.isArray(body) ? body : [body]) remember(received, m, maxRecorded);
      handle(req, res, body).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => http.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}${path}`,
    received,
    executed,
    requestHeaders,
    async close() {
      for (const t of sessions.values()) await t.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
