/**
 * The upstream MCP server over Streamable HTTP, through an undici keep-alive
 * pool. Answers SARK need not change stream back untouched as they arrive
 * (SSE events are never buffered); answers the plan rewrites are read —
 * JSON bodies up to a cap, SSE event by event — and an answer that must be
 * rewritten but cannot be (a content coding, a body that does not parse, a
 * media type that is neither JSON nor SSE, a body over the cap) is refused
 * with SARK_RESPONSE_UNFILTERABLE, never passed through. A client that goes
 * away aborts the upstream request. Connection failures and timeouts become
 * SARK_UPSTREAM_* errors for the caller to answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Pool, errors as undiciErrors } from 'undici';
import { SarkError } from '../errors.ts';
import type { AnswerPlan } from './answer-plan.ts';
import { clientResponseHeaders, isEventStream, isIdentityEncoded, isJson, upstreamRequestHeaders } from './headers.ts';
import { joined, readCapped, readUpTo, rewriteJsonAnswer } from './json-answer.ts';
import { relayRewritten } from './sse-relay.ts';

export interface UpstreamOptions {
  url: string;
  timeoutMs: number;
  connections: number;
  /** Largest answer SARK reads into memory to rewrite it, in bytes. */
  maxBufferedBytes: number;
}

/** Status recorded when the client disconnected before the upstream answered (nginx's 499). */
export const CLIENT_CLOSED = 499;

/** JSON answers up to this size that need no rewrite are read whole and sent in one write. */
const SMALL_ANSWER_BYTES = 64 * 1024;

export interface ForwardResult {
  readonly status: number;
  readonly headersMs: number;
}

/** What the forward stage sends upstream for one request. */
export interface Outbound {
  /** The re-serialized, authorized message(s); undefined for GET and DELETE. */
  readonly body: string | undefined;
  /** Headers to set (a string) or remove (null) on top of the client's, after the drop list. */
  readonly headers?: Readonly<Record<string, string | null>> | undefined;
  readonly plan: AnswerPlan;
  /**
   * JSON-RPC answers SARK gives itself for a batch (its refused elements):
   * merged into a JSON batch answer, or sent as the first events of a stream.
   */
  readonly injected: readonly unknown[];
  /**
   * For a stream that may stay open for hours (the GET stream): resolve once
   * the stream is open and relay it in the background, so that the request
   * is recorded when it is answered, not when it ends.
   */
  readonly detach?: boolean;
}

export interface Upstream {
  /** The path requests are sent to on the upstream origin. */
  readonly path: string;
  forward(req: IncomingMessage, res: ServerResponse, out: Outbound): Promise<ForwardResult>;
  close(): Promise<void>;
}

export function createUpstream(options: UpstreamOptions): Upstream {
  const url = new URL(options.url);
  const pool = new Pool(url.origin, {
    connections: options.connections,
    keepAliveTimeout: 30_000,
    headersTimeout: options.timeoutMs,
    // SSE streams (GET, upgraded POST responses) may stay quiet for a long time.
    bodyTimeout: 0,
  });
  // The client's query string is not forwarded: the upstream sees the
  // configured endpoint only, never a variant the policy did not judge.
  const path = url.search ? `${url.pathname}${url.search}` : url.pathname;
  const maxBytes = options.maxBufferedBytes;

  async function forward(req: IncomingMessage, res: ServerResponse, out: Outbound): Promise<ForwardResult> {
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.once('close', onClose);
    const started = performance.now();
    let upstreamRes: Awaited<ReturnType<Pool['request']>>;
    try {
      upstreamRes = await pool.request({
        path,
        method: req.method as 'GET' | 'POST' | 'DELETE',
        headers: upstreamRequestHeaders(req.headersDistinct, out.headers, out.body),
        body: out.body ?? null,
        signal: abort.signal,
      });
    } catch (err) {
      res.off('close', onClose);
      // The client left first: nothing to answer, and not an upstream fault.
      if (abort.signal.aborted) return { status: CLIENT_CLOSED, headersMs: performance.now() - started };
      if (err instanceof undiciErrors.HeadersTimeoutError) {
        throw new SarkError('SARK_UPSTREAM_TIMEOUT', {
          detail: `no response headers within ${options.timeoutMs} ms`,
          cause: err,
        });
      }
      throw new SarkError('SARK_UPSTREAM_UNAVAILABLE', { detail: (err as Error).message, cause: err });
    }
    const headersMs = performance.now() - started;
    const status = upstreamRes.statusCode;
    const headers = clientResponseHeaders(upstreamRes.headers);
    const body = upstreamRes.body;
    // Destroying the body (a refused or abandoned answer) makes undici emit an
    // abort error; whoever reads the body handles its errors, this keeps a
    // destroyed one from surfacing as an unhandled 'error'.
    body.on('error', ignore);
    const plan = out.plan;
    const sessionId = upstreamRes.headers['mcp-session-id'];
    plan.onHeaders(status, typeof sessionId === 'string' ? sessionId : undefined);
    const contentType = upstreamRes.headers['content-type'];
    const stream = isEventStream(contentType);
    let answered: Promise<void>;
    try {
      if (!plan.rewritesBodies && out.injected.length === 0) {
        answered = passThrough(res, status, headers, body, stream);
      } else if (!isIdentityEncoded(upstreamRes.headers['content-encoding'])) {
        body.destroy();
        throw unfilterable(`the answer is ${String(upstreamRes.headers['content-encoding'])}-encoded`);
      } else if (stream) {
        res.writeHead(status, headers);
        res.flushHeaders();
        answered = relayRewritten(body, res, plan, out.injected, maxBytes);
      } else {
        answered = answerJson(res, status, headers, body, contentType, plan, out.injected, maxBytes);
      }
    } catch (err) {
      res.off('close', onClose);
      throw err;
    }
    const settle = async () => {
      try {
        await answered;
      } catch (err) {
        if (!body.destroyed) body.destroy();
        if (abort.signal.aborted) return undefined;
        return err instanceof SarkError
          ? err
          : new SarkError('SARK_UPSTREAM_UNAVAILABLE', { detail: String(err), cause: err });
      } finally {
        res.off('close', onClose);
      }
      return undefined;
    };
    if (stream && out.detach) {
      // The stream is open: the request is answered. A later failure only ends the stream.
      settle().then((err) => {
        if (err && !res.destroyed) res.destroy();
      });
      return { status, headersMs };
    }
    const failed = await settle();
    if (failed) throw failed;
    if (abort.signal.aborted) return { status: CLIENT_CLOSED, headersMs };
    return { status, headersMs };
  }

  return { path: url.pathname, forward, close: () => pool.close() };
}

async function answerJson(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | string[]>,
  body: Readable,
  contentType: string | string[] | undefined,
  plan: AnswerPlan,
  injected: readonly unknown[],
  maxBytes: number,
): Promise<void> {
  const buf = await readCapped(body, maxBytes);
  if (buf.length === 0 && injected.length === 0) {
    res.writeHead(status, headers).end();
    return;
  }
  if (buf.length > 0 && !isJson(contentType)) {
    throw unfilterable(`the answer is ${String(contentType ?? 'untyped')}, neither JSON nor an event stream`);
  }
  const answer = await rewriteJsonAnswer(buf, plan, injected);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(Buffer.byteLength(answer));
  res.writeHead(injected.length > 0 ? 200 : status, headers);
  res.end(answer);
}

/**
 * An answer SARK does not change. Event streams: headers now, so the client
 * sees the stream open before the first event, then every chunk as it
 * arrives. JSON answers up to SMALL_ANSWER_BYTES, with a Content-Length or
 * chunked: read whole, then headers and body in one write with their length
 * (one syscall instead of one per chunk plus the chunk framing). Larger ones
 * are relayed as they come.
 */
async function passThrough(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | string[]>,
  body: Readable,
  stream: boolean,
): Promise<void> {
  if (!stream) {
    const head = await readUpTo(body, SMALL_ANSWER_BYTES);
    if (head.ended) {
      const buf = joined(head);
      if (status !== 204 && status !== 304) headers['content-length'] = String(buf.length);
      res.writeHead(status, headers);
      res.end(buf);
      return;
    }
    res.writeHead(status, headers);
    for (const chunk of head.chunks) res.write(chunk);
    await pipeline(body, res);
    return;
  }
  res.writeHead(status, headers);
  res.flushHeaders();
  await pipeline(body, res);
}

function ignore(): void {}

export function unfilterable(detail: string): SarkError {
  return new SarkError('SARK_RESPONSE_UNFILTERABLE', { detail });
}
