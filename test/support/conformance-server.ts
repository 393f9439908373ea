/**
 * A real MCP server (official SDK v1, Streamable HTTP, sessions) exercising
 * every feature the conformance test compares directly and through SARK:
 * tools that send progress and logging notifications and that ask the client
 * for sampling, elicitation and roots; static and templated resources; prompts
 * with a completable argument; and an event store, so both POST-response
 * streams and the standalone GET stream can be resumed with Last-Event-ID.
 *
 * Server-to-client traffic goes where the `stream` tool argument says:
 * `request` (the POST-response stream of the tools/call, `relatedRequestId`)
 * or `standalone` (the GET stream). In JSON response mode the SDK has no
 * request stream, so only `standalone` reaches the client there.
 *
 * Every outcome is deterministic (no clocks, no random ids in results), so the
 * test can compare answers without normalising them. The server records every
 * JSON-RPC message it receives and the headers of interest of every request.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { type EventStore, StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  type JSONRPCMessage,
  ListRootsResultSchema,
  type LoggingLevel,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { withJsonBody } from '../../src/demo/json-body.ts';

export interface ConformanceServerOptions {
  /** Answer POSTs with application/json instead of an SSE stream. */
  jsonResponse?: boolean;
  /** The `retry:` field of priming events, so clients resume quickly. */
  retryIntervalMs?: number;
}

/** Request headers the conformance test compares. */
export const HEADERS_OF_INTEREST = [
  'accept',
  'accept-encoding',
  'content-type',
  'last-event-id',
  'mcp-protocol-version',
  'mcp-session-id',
] as const;

export interface ReceivedRequest {
  readonly method: string;
  /** The session the request belonged to (for initialize: the one it created). */
  sessionId: string | undefined;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The parsed body of a POST. */
  readonly body: unknown;
  /** Milliseconds since the server started. */
  readonly atMs: number;
}

export interface ConformanceServer {
  readonly url: string;
  /** Every JSON-RPC message received, in order. */
  readonly received: unknown[];
  /** Every HTTP request to the endpoint, with its headers of interest. */
  readonly requests: ReceivedRequest[];
  /** Messages received in one session, in order. */
  receivedIn(sessionId: string): unknown[];
  /** Whether the session's standalone GET stream is open (its headers sent, not ended). */
  standaloneOpen(sessionId: string): boolean;
  close(): Promise<void>;
}

export const TOOL_NAMES = ['progress', 'log', 'sample', 'elicit', 'roots', 'notify', 'pause_stream'] as const;

const stream = z.enum(['request', 'standalone']);

/**
 * An event store with sequential ids, so replay order is the order of storing
 * (the SDK example store sorts by a clock-and-random id, and its
 * `split('_')` cannot recover the standalone stream id `_GET_stream`).
 */
class SequentialEventStore implements EventStore {
  readonly #events = new Map<string, { streamId: string; message: JSONRPCMessage }>();
  #seq = 0;

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const id = `ev-${String(++this.#seq).padStart(6, '0')}`;
    this.#events.set(id, { streamId, message });
    return id;
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const last = this.#events.get(lastEventId);
    if (!last) return '';
    let after = false;
    for (const [id, event] of this.#events) {
      if (id === lastEventId) after = true;
      else if (after && event.streamId === last.streamId && Object.keys(event.message).length > 0) {
        await send(id, event.message);
      }
    }
    return last.streamId;
  }

  streamOf(eventId: string): string | undefined {
    return this.#events.get(eventId)?.streamId;
  }
}

function text(value: unknown) {
  return { content: [{ type: 'text' as const, text: typeof value === 'string' ? value : JSON.stringify(value) }] };
}

function buildMcpServer(closeStandalone: () => void): McpServer {
  const mcp = new McpServer(
    { name: 'sark-conformance', version: '1.0.0' },
    { capabilities: { logging: {}, completions: {} }, instructions: 'Conformance fixture for SARK.' },
  );
  const related = (s: 'request' | 'standalone', requestId: string | number) =>
    s === 'request' ? { relatedRequestId: requestId } : {};

  mcp.registerTool(
    'progress',
    { description: 'Sends `steps` progress notifications, then answers', inputSchema: { steps: z.number().int() } },
    async ({ steps }, extra) => {
      const token = extra._meta?.progressToken;
      if (token !== undefined) {
        for (let i = 1; i <= steps; i++) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress: i, total: steps, message: `step ${i}` },
          });
        }
      }
      return text(`${steps} steps done`);
    },
  );

  mcp.registerTool(
    'log',
    {
      description: 'Sends one logging message per level, ending with an emergency sentinel',
      inputSchema: { stream, levels: z.array(z.string()) },
    },
    async ({ stream: s, levels }, extra) => {
      for (const level of [...levels, 'emergency'] as LoggingLevel[]) {
        const params = { level, logger: 'conformance', data: { level, stream: s } };
        // notifications/message on the request stream; sendLoggingMessage
        // (which applies logging/setLevel) on the standalone stream.
        if (s === 'request') await extra.sendNotification({ method: 'notifications/message', params });
        else await mcp.server.sendLoggingMessage(params, extra.sessionId);
      }
      return text(`logged ${levels.length + 1}`);
    },
  );

  mcp.registerTool(
    'sample',
    { description: 'Asks the client to sample, returns its answer', inputSchema: { stream, prompt: z.string() } },
    async ({ stream: s, prompt }, extra) => {
      const answer = await mcp.server.request(
        {
          method: 'sampling/createMessage',
          params: {
            messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
            maxTokens: 64,
            systemPrompt: 'be brief',
          },
        },
        CreateMessageResultSchema,
        related(s, extra.requestId),
      );
      return text(answer);
    },
  );

  mcp.registerTool(
    'elicit',
    { description: 'Asks the client for input, returns its answer', inputSchema: { stream } },
    async ({ stream: s }, extra) => {
      const answer = await mcp.server.request(
        {
          method: 'elicitation/create',
          params: {
            mode: 'form',
            message: 'Who are you?',
            requestedSchema: {
              type: 'object',
              properties: { name: { type: 'string' }, age: { type: 'integer' } },
              required: ['name'],
            },
          },
        },
        ElicitResultSchema,
        related(s, extra.requestId),
      );
      return text(answer);
    },
  );

  mcp.registerTool(
    'roots',
    { description: "Lists the client's roots", inputSchema: { stream } },
    async ({ stream: s }, extra) => {
      const answer = await mcp.server.request(
        { method: 'roots/list', params: {} },
        ListRootsResultSchema,
        related(s, extra.requestId),
      );
      return text(answer);
    },
  );

  mcp.registerTool(
    'notify',
    {
      description: 'Sends one logging message on the standalone stream; `drop` first closes that stream',
      inputSchema: { tag: z.string(), drop: z.boolean().optional() },
    },
    async ({ tag, drop }, extra) => {
      // JSON response mode hands tools no closeStandaloneSSEStream: use the transport's.
      if (drop) (extra.closeStandaloneSSEStream ?? closeStandalone)();
      await mcp.server.sendLoggingMessage({ level: 'emergency', logger: 'standalone', data: { tag } }, extra.sessionId);
      return text(`notified ${tag}`);
    },
  );

  mcp.registerTool(
    'pause_stream',
    {
      description: 'Sends progress 1, closes its own response stream, then sends progress 2 and the result',
    },
    async (extra) => {
      const token = extra._meta?.progressToken;
      const progress = (progress: number) =>
        token === undefined
          ? Promise.resolve()
          : extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress } });
      await progress(1);
      // SEP-1699 polling: the client resumes with GET + Last-Event-ID.
      extra.closeSSEStream?.();
      await progress(2);
      return text('resumed');
    },
  );

  mcp.registerResource(
    'readme',
    'conf://static/readme',
    { title: 'Readme', description: 'A static text resource', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'static resource body' }] }),
  );
  mcp.registerResource(
    'config',
    'conf://static/config.json',
    { description: 'A static JSON resource', mimeType: 'application/json' },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ b: 2, a: [1, { c: null }] }) }],
    }),
  );
  const ITEMS = ['alpha', 'alpine', 'beta'];
  mcp.registerResource(
    'item',
    new ResourceTemplate('conf://items/{id}', {
      list: async () => ({ resources: ITEMS.map((id) => ({ uri: `conf://items/${id}`, name: `item ${id}` })) }),
      complete: { id: (value) => ITEMS.filter((id) => id.startsWith(value)) },
    }),
    { description: 'Templated items', mimeType: 'text/plain' },
    async (uri, { id }) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: `item ${String(id)}` }] }),
  );

  const LANGUAGES = ['typescript', 'rego', 'rust', 'python'];
  mcp.registerPrompt(
    'review',
    {
      title: 'Code review',
      description: 'Review code in a language',
      argsSchema: {
        language: completable(z.string(), (value) => LANGUAGES.filter((l) => l.startsWith(value))),
        focus: z.string().optional(),
      },
    },
    ({ language, focus }) => ({
      description: `Review in ${language}`,
      messages: [
        {
          role: 'user',
          content: { type: 'text', text: `Review this ${language} code${focus ? ` for ${focus}` : ''}.` },
        },
        { role: 'assistant', content: { type: 'text', text: 'Ready. Émoji ok: ✓ and "quotes" and \\ backslash.' } },
      ],
    }),
  );
  return mcp;
}

function headersOf(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of HEADERS_OF_INTEREST) {
    const v = req.headers[name];
    out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export async function startConformanceServer(options: ConformanceServerOptions = {}): Promise<ConformanceServer> {
  const path = '/mcp';
  const received: unknown[] = [];
  const bySession = new Map<string, unknown[]>();
  const requests: ReceivedRequest[] = [];
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const stores = new Map<string, SequentialEventStore>();
  const standaloneStreams = new Map<string, ServerResponse[]>();

  // A GET opens the standalone stream unless it resumes a POST-response stream.
  const isStandalone = (sessionId: string, req: IncomingMessage) => {
    const last = req.headers['last-event-id'];
    return typeof last !== 'string' || stores.get(sessionId)?.streamOf(last) === '_GET_stream';
  };

  async function handle(req: IncomingMessage, res: ServerResponse, body: unknown, record: ReceivedRequest) {
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (!transport) {
      const isInit = req.method === 'POST' && (body as { method?: string } | undefined)?.method === 'initialize';
      if (!isInit) {
        res.writeHead(typeof sessionId === 'string' ? 404 : 400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        return;
      }
      const eventStore = new SequentialEventStore();
      const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: options.jsonResponse ?? false,
        eventStore,
        retryInterval: options.retryIntervalMs ?? 20,
        onsessioninitialized: (id) => {
          sessions.set(id, t);
          stores.set(id, eventStore);
          record.sessionId = id;
          bySession.set(id, [body]);
        },
      });
      t.onclose = () => {
        if (t.sessionId) sessions.delete(t.sessionId);
      };
      await buildMcpServer(() => t.closeStandaloneSSEStream()).connect(t);
      transport = t;
    } else if (req.method === 'GET' && typeof sessionId === 'string' && isStandalone(sessionId, req)) {
      const list = standaloneStreams.get(sessionId) ?? [];
      list.push(res);
      standaloneStreams.set(sessionId, list);
    }
    await transport.handleRequest(req, res, body);
  }

  const started = performance.now();
  const http: Server = createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== path) {
      res.writeHead(404).end();
      return;
    }
    const sid = req.headers['mcp-session-id'];
    const record: ReceivedRequest = {
      method: req.method ?? '',
      sessionId: typeof sid === 'string' ? sid : undefined,
      headers: headersOf(req),
      body: undefined,
      atMs: Math.round(performance.now() - started),
    };
    if (req.method !== 'POST') {
      requests.push(record);
      req.resume();
      handle(req, res, undefined, record).catch(() => res.destroy());
      return;
    }
    withJsonBody(req, res, (body) => {
      requests.push({ ...record, body });
      const stored = requests[requests.length - 1]!;
      for (const m of Array.isArray(body) ? body : [body]) {
        received.push(m);
        if (record.sessionId) bySession.get(record.sessionId)?.push(m);
      }
      handle(req, res, body, stored).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    requests,
    receivedIn: (sessionId) => bySession.get(sessionId) ?? [],
    standaloneOpen: (sessionId) =>
      (standaloneStreams.get(sessionId) ?? []).some((r) => r.headersSent && !r.writableEnded && !r.destroyed),
    async close() {
      for (const t of sessions.values()) await t.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
