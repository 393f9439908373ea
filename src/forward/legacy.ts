/**
 * The legacy HTTP+SSE transport (MCP 2024-11-05): the client opens `GET /sse`,
 * the server's first event (`event: endpoint`) names the URL to POST messages
 * to (`/messages?sessionId=…`), and every answer comes back on the SSE
 * stream, not in the POST response (which is a bare 202).
 *
 * SARK enforces it with the same stages as Streamable HTTP. This port
 * relays the stream and rewrites the endpoint event so that the client posts
 * to SARK; it keeps, per session, the upstream URL to post to and the answer
 * plans of pending requests, matched by id (a second pending request with
 * the same id is refused: an answer must never be matched to the wrong
 * request). Who owns a session is the decide stage's business (bindings):
 * the stream's verdict carries a `bind_session` obligation, applied here
 * when the endpoint event names the session, and undone when the stream
 * ends. Since the client reads answers only from the stream, SARK's own
 * answers are written into it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { EventSourceMessage } from 'eventsource-parser';
import { Pool, errors as undiciErrors } from 'undici';
import { SarkError } from '../errors.ts';
import type { JsonRpcId } from '../mcp/jsonrpc.ts';
import type { AnswerPlan } from './answer-plan.ts';
import { drained, SseEvents, serializeEvent, sseMessage } from './sse-relay.ts';
import { CLIENT_CLOSED, type ForwardResult, unfilterable } from './upstream.ts';

export interface LegacySession {
  readonly id: string;
  /** Absolute upstream URL to POST this session's messages to. */
  readonly postUrl: URL;
  readonly client: ServerResponse;
  /** Pending requests whose answers the plan rewrites, by JSON-RPC id. */
  readonly pending: Map<JsonRpcId, AnswerPlan>;
}

export interface LegacyOptions {
  /** The upstream's SSE endpoint, e.g. http://127.0.0.1:3001/sse. */
  sseUrl: string;
  /** Where clients POST on SARK (the rewritten endpoint). */
  messagesPath: string;
  timeoutMs: number;
  connections: number;
  maxEventBytes: number;
}

const FORWARD_REQUEST_HEADERS = ['user-agent', 'last-event-id', 'traceparent', 'tracestate'];

export class LegacyTransport {
  readonly #sseUrl: URL;
  readonly #messagesPath: string;
  readonly #timeoutMs: number;
  readonly #maxEventBytes: number;
  readonly #pool: Pool;
  readonly #sessions = new Map<string, LegacySession>();

  constructor(options: LegacyOptions) {
    this.#sseUrl = new URL(options.sseUrl);
    this.#messagesPath = options.messagesPath;
    this.#timeoutMs = options.timeoutMs;
    this.#maxEventBytes = options.maxEventBytes;
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
  async openStream(req: IncomingMessage, res: ServerResponse, plan: AnswerPlan): Promise<ForwardResult> {
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
      if (abort.signal.aborted) return { status: CLIENT_CLOSED, headersMs: performance.now() - started };
      if (err instanceof undiciErrors.HeadersTimeoutError) {
        throw new SarkError('SARK_UPSTREAM_TIMEOUT', { detail: 'legacy SSE stream', cause: err });
      }
      throw new SarkError('SARK_UPSTREAM_UNAVAILABLE', { detail: (err as Error).message, cause: err });
    }
    const headersMs = performance.now() - started;
    const type = String(upstream.headers['content-type'] ?? '');
    if (upstream.statusCode !== 200 || !/^\s*text\/event-stream/i.test(type)) {
      const text = await upstream.body.text().catch(() => '');
      res.off('close', onClose);
      res.writeHead(upstream.statusCode, { 'content-type': type || 'text/plain' });
      res.end(text);
      return { status: upstream.statusCode, headersMs };
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform' });
    res.flushHeaders();
    upstream.body.on('error', () => {});
    // The stream lives as long as the session: it is recorded once open, and relayed in the background.
    void this.#relay(upstream.body, res, plan)
      .catch(() => {
        if (!res.destroyed) res.destroy();
        upstream.body.destroy();
      })
      .finally(() => res.off('close', onClose));
    return { status: 200, headersMs };
  }

  /** Relays events until the stream ends (throws when it cannot be relayed); the session ends with it. */
  async #relay(body: Readable, res: ServerResponse, plan: AnswerPlan): Promise<void> {
    const sse = new SseEvents(this.#maxEventBytes);
    let session: LegacySession | undefined;
    try {
      for await (const chunk of body) {
        sse.feed(chunk as Buffer);
        if (sse.broken !== undefined) throw unfilterable(sse.broken);
        let out = '';
        for (const e of sse.take()) {
          if (typeof e === 'string') out += e;
          else if (e.event === 'endpoint' && session === undefined) {
            session = this.#bind(e.data, res);
            plan.bindSession(session.id);
            out += `event: endpoint\ndata: ${this.#messagesPath}?sessionId=${encodeURIComponent(session.id)}\n\n`;
          } else if (session === undefined) {
            // Nothing may reach the client before the session is bound.
            throw unfilterable('an event before the endpoint event');
          } else {
            out += await this.#rewrite(session, e);
          }
        }
        if (out && !res.write(out)) await drained(res);
      }
      res.end();
    } finally {
      if (session !== undefined) {
        this.#sessions.delete(session.id);
        plan.endSession(session.id);
      }
    }
  }

  /** Registers the session the endpoint event names; throws when SARK cannot bind to it. */
  #bind(endpoint: string, client: ServerResponse): LegacySession {
    const postUrl = new URL(endpoint.trim(), this.#sseUrl);
    const id = postUrl.searchParams.get('sessionId');
    // An endpoint SARK cannot bind to a session would let posts bypass it.
    if (!id || postUrl.origin !== this.#sseUrl.origin) throw unfilterable('unbindable legacy endpoint');
    const session: LegacySession = { id, postUrl, client, pending: new Map() };
    this.#sessions.set(id, session);
    return session;
  }

  async #rewrite(session: LegacySession, e: EventSourceMessage): Promise<string> {
    const raw = serializeEvent(e, e.data);
    if (e.data.length === 0) return raw;
    let message: { id?: JsonRpcId; method?: unknown };
    try {
      message = JSON.parse(e.data);
    } catch {
      if (session.pending.size === 0) return raw;
      throw unfilterable('an event of the stream is not JSON');
    }
    const plan =
      message?.id !== undefined && message.method === undefined ? session.pending.get(message.id) : undefined;
    if (!plan) return raw;
    session.pending.delete(message.id!);
    const rewritten = await plan.rewrite(message);
    return rewritten === undefined ? '' : sseMessage(rewritten);
  }

  /** Writes a JSON-RPC message SARK answers itself (a refusal) into the session's stream. */
  inject(session: LegacySession, message: unknown): void {
    if (!session.client.writableEnded) session.client.write(sseMessage(message));
  }

  /**
   * POSTs an authorized message to the upstream and relays its (202) answer.
   * The answer plan waits, by id, for the answer on the stream.
   */
  async post(
    req: IncomingMessage,
    res: ServerResponse,
    session: LegacySession,
    body: string,
    id: JsonRpcId | null,
    plan: AnswerPlan,
  ): Promise<ForwardResult> {
    if (id !== null && plan.rewritesBodies) {
      if (session.pending.has(id)) {
        throw new SarkError('SARK_INVALID_REQUEST', {
          publicDetail: `a request with id ${JSON.stringify(id)} is already pending on this session`,
        });
      }
      session.pending.set(id, plan);
    }
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
      if (id !== null) session.pending.delete(id);
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
