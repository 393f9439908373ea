/**
 * The upstream MCP server, through an undici keep-alive pool. Responses are
 * streamed back as they arrive (SSE events are never buffered); a client that
 * goes away aborts the upstream request. Connection failures and timeouts
 * become SARK_UPSTREAM_* errors for the caller to answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool, errors as undiciErrors } from 'undici';
import { SarkError } from '../errors.ts';
import { parseSseEvent, SseSplitter, serializeSseEvent } from '../mcp/sse.ts';
import { type ResponsePlan, rewriteJsonBody, rewriteMessage } from './result-filter.ts';

export interface UpstreamOptions {
  url: string;
  timeoutMs: number;
  connections: number;
}

// RFC 9110 §7.6.1 hop-by-hop fields, plus fields SARK recomputes or consumes.
const DROP_REQUEST_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'accept-encoding',
  // Credentials presented to SARK are SARK's, not the MCP server's.
  'authorization',
  'x-api-key',
]);

const DROP_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'trailer',
  'upgrade',
  'proxy-connection',
]);

/** Status recorded when the client disconnected before the upstream answered (nginx's 499). */
export const CLIENT_CLOSED = 499;

/** How SARK changes the upstream's answer (see result-filter.ts). */
export interface ResponseShape {
  /** Rewrites of results, by request id. */
  readonly plan?: ResponsePlan | undefined;
  /**
   * JSON-RPC responses SARK answers itself for a batch (the denied elements):
   * merged into a JSON batch answer, or sent as the first events of a stream.
   */
  readonly injected?: readonly unknown[] | undefined;
  /** Server notifications the caller may not see (e.g. updates of resources it may not read). */
  readonly dropNotification?: ((message: { method: string; params?: Record<string, unknown> }) => boolean) | undefined;
}

export interface ForwardResult {
  readonly status: number;
  readonly headersMs: number;
}

export interface UpstreamRequest {
  /** The re-serialized, authorized message(s); undefined for GET and DELETE. */
  readonly body?: string | undefined;
  /** Headers to set (a string) or remove (null) on top of the client's, after the drop list. */
  readonly headers?: Readonly<Record<string, string | null>> | undefined;
  /** How SARK changes the answer. */
  readonly shape?: ResponseShape | undefined;
}

export interface Upstream {
  /** The path requests are sent to on the upstream origin. */
  readonly path: string;
  forward(req: IncomingMessage, res: ServerResponse, request: UpstreamRequest): Promise<ForwardResult>;
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
  const basePath = url.pathname;
  const baseQuery = url.search.slice(1);

  async function forward(req: IncomingMessage, res: ServerResponse, request: UpstreamRequest): Promise<ForwardResult> {
    const { body, shape } = request;
    const headers: Record<string, string | string[]> = {};
    const raw = req.headersDistinct;
    for (const name in raw) {
      // Mcp-Param-* headers are only ever the ones SARK derives from the authorized body.
      if (!DROP_REQUEST_HEADERS.has(name) && !name.startsWith('mcp-param-')) headers[name] = raw[name]!;
    }
    // Bodies must reach the policy decoded; asking for identity keeps response
    // filtering possible too. Loopback gains nothing from compression.
    headers['accept-encoding'] = 'identity';
    if (request.headers) {
      for (const name in request.headers) {
        const v = request.headers[name];
        if (v === null || v === undefined) delete headers[name];
        else headers[name] = v;
      }
    }
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));

    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.once('close', onClose);
    const started = performance.now();
    let upstreamRes: Awaited<ReturnType<Pool['request']>>;

    try {
      upstreamRes = await pool.request({
        // The client's query string is not forwarded: the upstream sees the
        // configured endpoint only, never a variant the policy did not judge.
        path: baseQuery ? `${basePath}?${baseQuery}` : basePath,
        method: req.method as 'GET' | 'POST' | 'DELETE',
        headers,
        body: body ?? null,
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
    const out: Record<string, string | string[]> = {};
    for (const name in upstreamRes.headers) {
      if (!DROP_RESPONSE_HEADERS.has(name)) out[name] = upstreamRes.headers[name]!;
    }
    const stream = upstreamRes.body;
    const contentType = upstreamRes.headers['content-type'];
    if (typeof contentType === 'string' && contentType.startsWith('text/event-stream')) {
      // Event streams: headers now, so the client sees the stream open before
      // the first event; then every chunk as it arrives.
      res.writeHead(upstreamRes.statusCode, out);
      res.flushHeaders();
      for (const m of shape?.injected ?? []) res.write(`event: message\ndata: ${JSON.stringify(m)}\n\n`);
      await relay(stream, res, shape?.plan?.size || shape?.dropNotification ? eventRewriter(shape) : undefined);
    } else {
      // Single JSON responses (and empty 202s) are small: one write with the
      // headers, and no per-response stream machinery.
      let buf: Buffer;
      try {
        buf = Buffer.from(await stream.arrayBuffer());
      } catch (err) {
        res.off('close', onClose);
        throw new SarkError('SARK_UPSTREAM_UNAVAILABLE', { detail: (err as Error).message, cause: err });
      }
      let status = upstreamRes.statusCode;
      if (shape?.plan?.size && status === 200) {
        const rewritten = rewriteJsonBody(shape.plan, buf);
        if (rewritten !== undefined) buf = Buffer.from(rewritten);
      }
      if (shape?.injected?.length) {
        buf = Buffer.from(mergeBatchAnswer(buf, shape.injected));
        status = 200;
        out['content-type'] = 'application/json';
      }
      if (status !== 204 && status !== 304) out['content-length'] = String(buf.length);
      res.writeHead(status, out);
      res.end(buf);
    }
    res.off('close', onClose);
    return { status: upstreamRes.statusCode, headersMs };
  }

  return { path: basePath, forward, close: () => pool.close() };
}

/** Turns an event stream's chunks into what the client gets; may drop or rewrite events. */
export interface StreamTransform {
  push(chunk: Buffer): string | Buffer;
  /** What is left when the upstream ends. */
  end(): string;
}

/**
 * Copies a stream chunk by chunk with back-pressure, through `transform` when
 * given. Either side going away ends both: a client that leaves cancels the
 * upstream request; a transform that throws (a stream SARK cannot enforce)
 * closes both.
 */
export function relay(body: Readable, res: ServerResponse, transform?: StreamTransform): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      body.off('data', onData);
      res.off('drain', onDrain);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      let out: string | Buffer;
      try {
        out = transform ? transform.push(chunk) : chunk;
      } catch {
        res.destroy();
        body.destroy();
        finish();
        return;
      }
      if (out.length > 0 && !res.write(out)) body.pause();
    };
    const onDrain = () => body.resume();
    body.on('data', onData);
    res.on('drain', onDrain);
    body.once('end', () => {
      res.end(transform?.end());
      finish();
    });
    body.once('error', () => {
      res.destroy();
      finish();
    });
    res.once('close', () => {
      if (!body.destroyed) body.destroy();
      finish();
    });
  });
}

/** A batch answer: the upstream's JSON answers (an array, one object, or none) plus SARK's own. */
function mergeBatchAnswer(upstream: Buffer, injected: readonly unknown[]): string {
  let answers: unknown[] = [];
  if (upstream.length > 0) {
    try {
      const parsed: unknown = JSON.parse(upstream.toString('utf8'));
      answers = Array.isArray(parsed) ? parsed : [parsed];
    } catch {
      answers = [];
    }
  }
  return JSON.stringify([...answers, ...injected]);
}

/**
 * Cuts the stream into SSE events and re-serializes the ones carrying a
 * response the plan rewrites, or drops notifications the caller may not see.
 * Other events keep their exact bytes; each is written once complete.
 */
function eventRewriter(shape: ResponseShape): StreamTransform {
  const splitter = new SseSplitter();
  return {
    push(chunk) {
      let out = '';
      for (const raw of splitter.push(chunk)) out += rewriteEvent(raw, shape);
      return out;
    },
    end: () => splitter.rest(),
  };
}

function rewriteEvent(raw: string, shape: ResponseShape): string {
  const event = parseSseEvent(raw);
  if (event.data === undefined || event.data.length === 0) return raw;
  let message: unknown;
  try {
    message = JSON.parse(event.data);
  } catch {
    return raw;
  }
  const m = message as { method?: unknown; id?: unknown; params?: Record<string, unknown> };
  if (typeof m?.method === 'string' && m.id === undefined && shape.dropNotification?.(m as { method: string }))
    return '';
  const rewritten = shape.plan ? rewriteMessage(shape.plan, message) : undefined;
  return rewritten === undefined ? raw : serializeSseEvent({ ...event, data: JSON.stringify(rewritten) });
}
