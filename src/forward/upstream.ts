/**
 * The upstream MCP server, through an undici keep-alive pool. Responses are
 * streamed back as they arrive (SSE events are never buffered); a client that
 * goes away aborts the upstream request. Connection failures and timeouts
 * become SARK_UPSTREAM_* errors for the caller to answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { errors as undiciErrors, Pool } from 'undici';
import { SarkError } from '../errors.ts';

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

const DROP_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'trailer', 'upgrade', 'proxy-connection']);

export interface ForwardResult {
  readonly status: number;
  readonly headersMs: number;
}

export interface Upstream {
  /** The path requests are sent to on the upstream origin. */
  readonly path: string;
  forward(req: IncomingMessage, res: ServerResponse, body: string | undefined, query: string): Promise<ForwardResult>;
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

  async function forward(
    req: IncomingMessage,
    res: ServerResponse,
    body: string | undefined,
    query: string,
  ): Promise<ForwardResult> {
    const headers: Record<string, string | string[]> = {};
    const raw = req.headersDistinct;
    for (const name in raw) {
      if (!DROP_REQUEST_HEADERS.has(name)) headers[name] = raw[name]!;
    }
    // Bodies must reach the policy decoded; asking for identity keeps response
    // filtering possible too. Loopback gains nothing from compression.
    headers['accept-encoding'] = 'identity';
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));

    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.once('close', onClose);
    const started = performance.now();
    let upstreamRes: Awaited<ReturnType<Pool['request']>>;
    const q = [baseQuery, query].filter(Boolean).join('&');
    try {
      upstreamRes = await pool.request({
        path: q ? `${basePath}?${q}` : basePath,
        method: req.method as 'GET' | 'POST' | 'DELETE',
        headers,
        body: body ?? null,
        signal: abort.signal,
      });
    } catch (err) {
      res.off('close', onClose);
      if (err instanceof undiciErrors.HeadersTimeoutError) {
        throw new SarkError('SARK_UPSTREAM_TIMEOUT', { detail: `no response headers within ${options.timeoutMs} ms`, cause: err });
      }
      throw new SarkError('SARK_UPSTREAM_UNAVAILABLE', { detail: (err as Error).message, cause: err });
    }
    const headersMs = performance.now() - started;
    const out: Record<string, string | string[]> = {};
    for (const name in upstreamRes.headers) {
      if (!DROP_RESPONSE_HEADERS.has(name)) out[name] = upstreamRes.headers[name]!;
    }
    res.writeHead(upstreamRes.statusCode, out);
    // Event streams: send the headers now so the client sees the stream open
    // before the first event.
    if (String(upstreamRes.headers['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders();
    try {
      await pipeline(upstreamRes.body, res);
    } catch {
      // Either side went away mid-stream; pipeline has destroyed both.
    } finally {
      res.off('close', onClose);
    }
    return { status: upstreamRes.statusCode, headersMs };
  }

  return { path: basePath, forward, close: () => pool.close() };
}
