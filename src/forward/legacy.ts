/**
 * The legacy HTTP+SSE transport (MCP 2024-11-05): the client opens `GET /sse`,
 * the server's first event (`event: endpoint`) names the URL to POST messages
 * to (`/messages?sessionId=…`), and every answer comes back on the SSE
 * stream, not in the POST response (which is a bare 202).
 *
 * SARK enforces it exactly like Streamable HTTP. It relays the stream and
 * rewrites the endpoint event so that the client posts to SARK; it keeps, per
 * session, the identity that opened the stream (a POST from anyone else is
 * refused: no session riding), the upstream URL to post to, and the result
 * rewrites of pending requests. Since the client reads answers only from the
 * stream, a refusal is injected into the stream as a JSON-RPC error.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool, errors as undiciErrors } from 'undici';
import { SarkError } from '../errors.ts';
import { parseSseEvent, SseSplitter, serializeSseEvent } from '../mcp/sse.ts';
import { type ResultRewrite, rewriteMessage } from './result-filter.ts';
import { type ForwardResult, relay } from './upstream.ts';

export interface LegacySession {
  readonly id: string;
  /** Who opened the stream; every POST to the session must be the same agent. */
  readonly agentId: string;
  /** Absolute upstream URL to POST this session's messages to. */
  readonly postUrl: URL;
  readonly client: ServerResponse;
  /** Pending requests whose answers must be rewritten, by JSON-RPC id. */
  readonly plan: Map<string | number, ResultRewrite>;
}

export interface LegacyOptions {
  /** The upstream's SSE endpoint, e.g. http://127.0.0.1:3001/sse. */
  sseUrl: string;
  /** Where clients POST on SARK (the rewritten endpoint). */
  messagesPath: string;
  timeoutMs: number;
  connections: number;
}

const FORWARD_REQUEST_HEADERS = ['user-agent', 'last-event-id', 'traceparent', 'tracestate'];

export class LegacyTransport {
  readonly #sseUrl: URL;
  readonly #messagesPath: string;
  readonly #timeoutMs: number;
  readonly #pool: Pool;
  readonly #sessions = new Map<string, LegacySession>();

  constructor(options: LegacyOptions) {
    this.#sseUrl = new URL(options.sseUrl);
    this.#messagesPath = options.messagesPath;
    this.#timeoutMs = options.timeoutMs;
    this.#pool = new Pool(this.#sseUrl.origin, {
      connections: options.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: 0,
    });
  }

  session(id: string): LegacySession | undefined {
    return this.#sessions.get(id);
  }

  /** Sessions open now (sark_sessions_open{transport="legacy_sse"}). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Opens the upstream stream and relays it to `res` until either side ends. */
  async openStream(req: IncomingMessage, res: ServerResponse, agentId: string): Promise<ForwardResult> {
    const abort = new AbortController();
    const onClose = () => abort.abort();
    res.once('close', onClose);
    const started = performance.now();
    let upstream: Awaited<ReturnType<Pool['request']>>;
    try {
      upstream = await this.#pool.request({
        path: this.#sseUrl.pathname + this.#sseUrl.search,
        method: 'GET',
        headers: pick(req, { accept: 'text/event-stream', 'accept-encoding': 'identity' }),
        signal: abort.signal,
      });
    } catch (err) {
      res.off('close', onClose);
      if (abort.signal.aborted) return { status: 499, headersMs: performance.now() - started };
      if (err instanceof undiciErrors.HeadersTimeoutError) {
        throw new SarkError('SARK_UPSTREAM_TIMEOUT', { detail: 'legacy SSE stream', cause: err });
      }
      throw new SarkError('SARK_UPSTREAM_UNAVAILABLE', { detail: (err as Error).message, cause: err });
    }
    const headersMs = performance.now() - started;
    const type = String(upstream.headers['content-type'] ?? '');
    if (upstream.statusCode !== 200 || !type.startsWith('text/event-stream')) {
      const text = await upstream.body.text().catch(() => '');
      res.off('close', onClose);
      res.writeHead(upstream.statusCode, { 'content-type': type || 'text/plain' });
      res.end(text);
      return { status: upstream.statusCode, headersMs };
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform' });
    res.flushHeaders();
    const splitter = new SseSplitter();
    let sessionId: string | undefined;
    try {
      await relay(upstream.body, res, {
        push: (chunk) => {
          let out = '';
          for (const raw of splitter.push(chunk)) {
            const event = parseSseEvent(raw);
            if (event.event === 'endpoint' && event.data !== undefined && sessionId === undefined) {
              sessionId = this.#bind(event.data, agentId, res);
              out += serializeSseEvent({
                ...event,
                data: `${this.#messagesPath}?sessionId=${encodeURIComponent(sessionId)}`,
              });
            } else {
              out += sessionId === undefined ? raw : this.#rewrite(this.#sessions.get(sessionId), raw, event);
            }
          }
          return out;
        },
        end: () => splitter.rest(),
      });
    } finally {
      if (sessionId !== undefined) this.#sessions.delete(sessionId);
    }
    res.off('close', onClose);
    return { status: 200, headersMs };
  }

  /** Registers the session the endpoint event names; throws when SARK cannot bind to it. */
  #bind(endpoint: string, agentId: string, client: ServerResponse): string {
    const postUrl = new URL(endpoint.trim(), this.#sseUrl);
    const id = postUrl.searchParams.get('sessionId');
    // An endpoint SARK cannot bind to a session would let posts bypass it.
    if (!id || postUrl.origin !== this.#sseUrl.origin) throw new Error('unbindable legacy endpoint');
    this.#sessions.set(id, { id, agentId, postUrl, client, plan: new Map() });
    return id;
  }

  #rewrite(session: LegacySession | undefined, raw: string, event: ReturnType<typeof parseSseEvent>): string {
    if (!session || session.plan.size === 0 || !event.data) return raw;
    let message: { id?: string | number } | undefined;
    try {
      message = JSON.parse(event.data);
    } catch {
      return raw;
    }
    if (message?.id === undefined || !session.plan.has(message.id)) return raw;
    const rewritten = rewriteMessage(session.plan, message);
    session.plan.delete(message.id);
    return rewritten === undefined ? raw : serializeSseEvent({ ...event, data: JSON.stringify(rewritten) });
  }

  /** Writes a JSON-RPC message SARK answers itself (a refusal) into the session's stream. */
  inject(session: LegacySession, message: unknown): void {
    if (!session.client.writableEnded) session.client.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** POSTs an authorized message to the upstream and relays its (202) answer. */
  async post(req: IncomingMessage, res: ServerResponse, session: LegacySession, body: string): Promise<ForwardResult> {
    const started = performance.now();
    let upstream: Awaited<ReturnType<Pool['request']>>;
    try {
      upstream = await this.#pool.request({
        path: session.postUrl.pathname + session.postUrl.search,
        method: 'POST',
        headers: pick(req, {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'accept-encoding': 'identity',
        }),
        body,
        headersTimeout: this.#timeoutMs,
      });
    } catch (err) {
      if (err instanceof undiciErrors.HeadersTimeoutError) {
        throw new SarkError('SARK_UPSTREAM_TIMEOUT', { detail: 'legacy message POST', cause: err });
      }
      throw new SarkError('SARK_UPSTREAM_UNAVAILABLE', { detail: (err as Error).message, cause: err });
    }
    const text = await upstream.body.text();
    res.writeHead(upstream.statusCode, {
      'content-type': String(upstream.headers['content-type'] ?? 'text/plain'),
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
    return { status: upstream.statusCode, headersMs: performance.now() - started };
  }

  async close(): Promise<void> {
    for (const s of this.#sessions.values()) s.client.destroy();
    this.#sessions.clear();
    await this.#pool.close();
  }
}

function pick(req: IncomingMessage, base: Record<string, string>): Record<string, string> {
  const out = { ...base };
  for (const name of FORWARD_REQUEST_HEADERS) {
    const v = req.headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}
