/**
 * A loopback stand-in for the MCP Gateway Registry
 * (agentic-community/mcp-gateway-registry), implementing what SARK's client
 * reads, in the registry's own shapes:
 *   GET /v0.1/servers?cursor=&limit=   sorted by `io.mcpgateway/<path>`, the cursor
 *                                       is the last name of the page (as the registry does)
 *   GET /api/server_details/{path}     the server record
 *   GET /api/servers/tools/{path}      {service_path, tools, cached}; 400 for a disabled server
 * Every route needs `Authorization: Bearer <token>` (401 otherwise).
 *
 * Faults, per route ('servers', 'details', 'tools') or for all ('*'), each
 * for the next `times` requests (default: until cleared):
 *   status   answer with that status (and Retry-After when given)
 *   reset    destroy the socket without an answer
 *   slow     wait delayMs before answering (a deadline test)
 *   stall    send headers then stop mid-body
 *   garbage  a body that is not JSON
 *   shape    JSON of the wrong shape
 *   huge     a body of `bytes` bytes
 *   loop     (list only) a page whose nextCursor always names the same server
 * A fault may be limited to one server path (details and tools).
 * `down()` closes the listening socket (connection refused) and `up()` opens it
 * again on the same port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface StandInTool {
  name: string;
  description?: string;
  inputSchema?: unknown;
  [k: string]: unknown;
}

export interface StandInServer {
  path: string;
  server_name?: string;
  description?: string;
  tags?: unknown;
  visibility?: unknown;
  allowed_groups?: unknown;
  registered_by?: string;
  is_enabled?: boolean;
  status?: string;
  metadata?: Record<string, unknown>;
  tools?: StandInTool[];
  [k: string]: unknown;
}

export type Route = 'servers' | 'details' | 'tools';
export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'reset' }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'stall' }
  | { kind: 'garbage' }
  | { kind: 'shape' }
  | { kind: 'huge'; bytes: number }
  | { kind: 'loop' };

export interface RegistryStandIn {
  readonly url: string;
  readonly token: string;
  servers: StandInServer[];
  /** Every request: method, path with query, and whether its bearer token was right. */
  readonly requests: { method: string; url: string; authorized: boolean; route: Route | undefined }[];
  fault(route: Route | '*', fault: Fault, times?: number, path?: string): void;
  clear(): void;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

const NAMESPACE = 'io.mcpgateway';
const nameOf = (s: StandInServer) => `${NAMESPACE}/${s.path.replace(/^\/+|\/+$/g, '')}`;

function send(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export async function startRegistryStandIn(
  servers: StandInServer[] = [],
  token = 'registry-token',
): Promise<RegistryStandIn> {
  const faults: { route: Route | '*'; path: string | undefined; fault: Fault; left: number }[] = [];
  const sockets = new Set<Socket>();
  const requests: RegistryStandIn['requests'] = [];
  const state = { servers };

  const idOf = (path: string) => decodeURIComponent(path).replace(/^\/+|\/+$/g, '');

  function takeFault(route: Route, path: string): Fault | undefined {
    const i = faults.findIndex(
      (f) => (f.route === route || f.route === '*') && (f.path === undefined || idOf(f.path) === idOf(path)),
    );
    if (i < 0) return undefined;
    const f = faults[i]!;
    if (--f.left <= 0) faults.splice(i, 1);
    return f.fault;
  }

  function find(path: string): StandInServer | undefined {
    return state.servers.find((s) => idOf(s.path) === idOf(path));
  }

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const route: Route | undefined =
      url.pathname === '/v0.1/servers'
        ? 'servers'
        : url.pathname.startsWith('/api/server_details/')
          ? 'details'
          : url.pathname.startsWith('/api/servers/tools/')
            ? 'tools'
            : undefined;
    const authorized = req.headers.authorization === `Bearer ${token}`;
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorized, route });
    if (!route || req.method !== 'GET') return send(res, 404, { detail: 'Not Found' });
    if (!authorized) return send(res, 401, { detail: 'Not authenticated' });
    const path =
      route === 'servers'
        ? ''
        : url.pathname.slice(route === 'details' ? '/api/server_details'.length : '/api/servers/tools'.length);
    const fault = takeFault(route, path);
    if (fault) {
      switch (fault.kind) {
        case 'status':
          return send(
            res,
            fault.status,
            { detail: 'fault' },
            fault.retryAfter ? { 'retry-after': fault.retryAfter } : {},
          );
        case 'reset':
          req.socket.destroy();
          return;
        case 'slow':
          await new Promise((r) => setTimeout(r, fault.delayMs));
          break;
        case 'stall':
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
          res.write('{"servers": [');
          return;
        case 'garbage':
          return send(res, 200, '{"servers": [ not json');
        case 'shape':
          return send(
            res,
            200,
            route === 'servers' ? { servers: 'none' } : route === 'tools' ? { tools: [{}] } : ['x'],
          );
        case 'huge':
          return send(res, 200, `{"pad":"${'x'.repeat(fault.bytes)}"}`);
        case 'loop':
          return send(res, 200, { servers: [], metadata: { nextCursor: `${NAMESPACE}/loop`, count: 0 } });
      }
    }
    if (route === 'servers') {
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 100) || 100, 1000);
      const cursor = url.searchParams.get('cursor');
      const sorted = [...state.servers].sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : 1));
      let start = 0;
      if (cursor) start = sorted.findIndex((s) => nameOf(s) === cursor) + 1;
      const page = sorted.slice(start, start + limit);
      const more = start + limit < sorted.length;
      return send(res, 200, {
        servers: page.map((s) => ({
          server: {
            name: nameOf(s),
            description: s.description ?? '',
            version: '1.0.0',
            _meta: {
              [`${NAMESPACE}/internal`]: {
                path: s.path,
                is_enabled: s.is_enabled ?? true,
                num_tools: s.tools?.length ?? 0,
                tags: s.tags ?? [],
              },
            },
          },
          _meta: { [`${NAMESPACE}/registry`]: { health_status: 'healthy' } },
        })),
        metadata: { nextCursor: more ? nameOf(page[page.length - 1]!) : null, count: page.length },
      });
    }
    const server = find(path);
    if (!server) return send(res, 404, { detail: 'Service path not registered' });
    if (route === 'details') {
      const { tools, ...record } = server;
      return send(res, 200, { ...record, num_tools: tools?.length ?? 0, tool_list: tools ?? [] });
    }
    if (server.is_enabled === false) return send(res, 400, { detail: 'Cannot fetch tools from disabled service' });
    return send(res, 200, { service_path: server.path, tools: server.tools ?? [], cached: false });
  }

  let server: Server = createServer((req, res) => void answer(req, res));
  let port = 0;
  const listen = (s: Server) =>
    new Promise<void>((resolve) =>
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        resolve();
      }),
    );
  const track = (s: Server) =>
    s.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
  track(server);
  await listen(server);
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });

  return {
    url: `http://127.0.0.1:${port}`,
    token,
    get servers() {
      return state.servers;
    },
    set servers(v) {
      state.servers = v;
    },
    requests,
    fault(route, fault, times = Number.POSITIVE_INFINITY, path = undefined) {
      faults.push({ route, path, fault, left: times });
    },
    clear() {
      faults.length = 0;
    },
    down: stop,
    async up() {
      server = createServer((req, res) => void answer(req, res));
      track(server);
      await listen(server);
    },
    close: stop,
  };
}
