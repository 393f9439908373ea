/**
 * The request lifecycle for the MCP endpoint, in the order the stages run:
 *
 *   listen (route, content type and encoding, body limit)
 *     → mcp (strict JSON, JSON-RPC, classify, header/body agreement)
 *     → identity (API key, mesh header, anonymous)
 *     → decide (policy input, cache, breaker, engine; every failure is a deny;
 *               obligations; rate limit)
 *     → forward (re-serialized authorized message, headers derived from it;
 *                answer streamed back, results rewritten as obligations say)
 *     → record (metrics, one audit event per decision)
 *
 * Any stage may throw a SarkError; `#fail` is the one place that turns it into
 * an HTTP status and a JSON-RPC error body. A refused message never reaches
 * `forward`. A batch is authorized element by element: the allowed elements
 * go upstream as one batch, the refused ones are answered by SARK in the
 * same batch answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SarkConfig } from '../config/schema.ts';
import type { Decide } from '../decide/engine.ts';
import type { RateLimit } from '../decide/rate-limit.ts';
import { SarkError } from '../errors.ts';
import type { LegacyTransport } from '../forward/legacy.ts';
import type { ResponsePlan } from '../forward/result-filter.ts';
import type { ForwardResult, Upstream, UpstreamRequest } from '../forward/upstream.ts';
import type { Identity, IdentityResolver } from '../identity/resolve.ts';
import { decodeBody, readBody } from '../listen/body.ts';
import { classify, type HeaderLookup, type McpMessage } from '../mcp/classify.ts';
import { errorResponse, type JsonRpcId, type JsonRpcMessage, parseBody } from '../mcp/jsonrpc.ts';
import type { JsonLimits } from '../mcp/strict-json.ts';
import { type Logger, requestFields } from '../observe/logger.ts';
import type { SarkMetrics } from '../observe/metrics.ts';
import type { RequestOutcome } from '../observe/request-metrics.ts';
import { disabledTracer, propagationHeaders, type RequestSpan, type Tracer, traceIdOf } from '../observe/tracing.ts';
import type { AuditRecorder } from '../record/audit.ts';
import { auditEvent } from '../record/facts.ts';
import { Authorizer, refusalData, type Verdict } from './authorize.ts';
import {
  errorObject,
  httpPseudoMessage,
  isModernEnvelope,
  JSON_CONTENT_TYPE,
  MODERN,
  methodLabel,
  sendJson,
  upstreamHeaders,
} from './messages.ts';

export interface PipelineDeps {
  config: SarkConfig;
  resolveIdentity: IdentityResolver;
  decide: Decide;
  /** Applies the decision's rate_limit obligation after an allow (absent: no limits). */
  rateLimit?: RateLimit;
  upstream: Upstream;
  /** The legacy HTTP+SSE transport, when an upstream SSE endpoint is configured. */
  legacy?: LegacyTransport | undefined;
  recorder: AuditRecorder;
  metrics: SarkMetrics;
  logger: Logger;
  /** OpenTelemetry tracing; absent: off. */
  tracer?: Tracer | undefined;
}

/** HTTP requests that carry no JSON-RPC message still go through the policy. */
const HTTP_ACTIONS: Readonly<Record<string, string>> = {
  GET: 'gateway:stream:listen',
  DELETE: 'gateway:session:end',
};

export class Pipeline {
  readonly #deps: PipelineDeps;
  readonly #mcpPath: string;
  readonly #maxBodyBytes: number;
  readonly #serverId: string;
  readonly #jsonLimits: JsonLimits;
  readonly #rejectBatches: boolean;
  readonly #authorizer: Authorizer;
  readonly #tracer: Tracer;

  constructor(deps: PipelineDeps) {
    const c = deps.config;
    this.#deps = deps;
    this.#mcpPath = c.mcpPath;
    this.#maxBodyBytes = c.maxBodyBytes;
    this.#serverId = c.serverId;
    this.#jsonLimits = {
      maxDepth: c.jsonMaxDepth,
      maxStringLength: c.jsonMaxStringLength,
      maxArrayLength: c.jsonMaxArrayLength,
      maxKeys: c.jsonMaxKeys,
    };
    this.#rejectBatches = c.batchMode === 'reject';
    this.#tracer = deps.tracer ?? disabledTracer;
    this.#authorizer = new Authorizer({
      serverId: c.serverId,
      decide: deps.decide,
      rateLimit: deps.rateLimit,
      metrics: deps.metrics,
      logger: deps.logger,
    });
  }

  /** The data listener's request handler; never rejects. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const t0 = performance.now();
    const span = this.#tracer.startRequest(req.headers, `${req.method} ${this.#mcpPath}`, {
      'http.request.method': req.method,
    });
    const handled = this.#route(req, res, t0, span).catch((err) =>
      this.#fail(req, res, err, null, 'internal', t0, span),
    );
    if (span) handled.finally(() => span.end({ 'http.response.status_code': res.statusCode }));
  }

  async #route(req: IncomingMessage, res: ServerResponse, t0: number, span: RequestSpan | undefined): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    // Exact match: case, slash, dot-segment, encoded and matrix variants of the
    // endpoint are 404s. The query string is never forwarded.
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== this.#mcpPath) {
      const legacy = this.#deps.legacy;
      if (legacy && path === this.#deps.config.legacySsePath && req.method === 'GET') {
        return this.#legacyStream(req, res, path, legacy, t0, span);
      }
      if (legacy && path === this.#deps.config.legacyMessagesPath && req.method === 'POST') {
        return this.#legacyPost(
          req,
          res,
          path,
          new URLSearchParams(url.slice(q + 1)).get('sessionId'),
          legacy,
          t0,
          span,
        );
      }
      req.resume();
      throw new SarkError('SARK_NOT_FOUND');
    }
    switch (req.method) {
      case 'POST':
        return this.#post(req, res, path, t0, span);
      case 'GET':
      case 'DELETE':
        return this.#bodiless(req, res, path, t0, span);
      default:
        req.resume();
        res.setHeader('allow', 'GET, POST, DELETE');
        throw new SarkError('SARK_METHOD_NOT_ALLOWED');
    }
  }

  async #post(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    t0: number,
    span: RequestSpan | undefined,
  ): Promise<void> {
    const contentType = req.headers['content-type'];
    if (contentType === undefined || !JSON_CONTENT_TYPE.test(contentType)) {
      req.resume();
      throw new SarkError('SARK_UNSUPPORTED_MEDIA_TYPE', { publicDetail: `got ${contentType ?? 'no content type'}` });
    }
    const raw = await readBody(req, this.#maxBodyBytes);
    const body = decodeBody(raw, req.headers['content-encoding'], this.#maxBodyBytes);
    const parsed = parseBody(body, this.#jsonLimits);
    const headers = req.headersDistinct as HeaderLookup;
    if (Array.isArray(parsed)) return this.#batch(req, res, path, parsed, headers, t0, span);

    const label = methodLabel(parsed);
    let msg: McpMessage;
    let identity: Identity;
    try {
      msg = classify(parsed, headers);
      identity = this.#identify(headers, span);
    } catch (err) {
      return this.#fail(req, res, err, 'id' in parsed ? (parsed.id ?? null) : null, label, t0, span);
    }
    span?.setAttributes({ 'mcp.method.name': msg.method, 'gen_ai.tool.name': toolOf(msg) });
    const v = await this.#authorizer.authorize(req, path, msg, identity, headers, t0, span);
    if (v.refusal) {
      this.#deps.recorder.record(auditEvent(this.#serverId, v.facts));
      this.#refuse(res, v, msg.id, msg.kind !== 'notification');
      return this.#done(label, 'deny', t0, msg);
    }
    const forwardedAt = performance.now();
    const upstream = await this.#forward(req, res, msg.id, span, {
      body: JSON.stringify(v.forward),
      headers: upstreamHeaders(msg, v.forward!),
      shape:
        v.rewrite || v.dropNotification
          ? {
              plan: v.rewrite ? new Map([[msg.id as JsonRpcId, v.rewrite]]) : undefined,
              dropNotification: v.dropNotification,
            }
          : undefined,
    });
    // Recorded once the answer is complete, so the event carries the upstream status and latencies.
    this.#deps.recorder.record(auditEvent(this.#serverId, { ...v.facts, upstream }));
    this.#done(label, upstream instanceof SarkError ? 'error' : 'allow', t0, msg, forwardedAt);
  }

  /**
   * JSON-RPC batches (protocol revisions up to 2025-03-26): every element is
   * authorized on its own. The batch is never partially bypassed: an element
   * that fails to classify or is refused is answered by SARK and never sent.
   */
  async #batch(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    batch: JsonRpcMessage[],
    headers: HeaderLookup,
    t0: number,
    span: RequestSpan | undefined,
  ): Promise<void> {
    if (this.#rejectBatches) throw new SarkError('SARK_BATCH_REJECTED');
    // MCP 2026-07-28 (Transports): batches may not carry requests of that revision.
    if (MODERN.has(headers['mcp-protocol-version']?.[0] ?? '') || batch.some(isModernEnvelope)) {
      throw new SarkError('SARK_INVALID_REQUEST', {
        publicDetail: 'JSON-RPC batches may not contain requests for protocol revision 2026-07-28 or later',
      });
    }
    const identity = this.#identify(headers, span);
    const injected: unknown[] = [];
    const allowed: JsonRpcMessage[] = [];
    const plan: ResponsePlan = new Map();
    const verdicts: Verdict[] = [];
    const decided: { label: string; msg: McpMessage; outcome: RequestOutcome }[] = [];
    for (const element of batch) {
      const label = methodLabel(element);
      const elementId = 'id' in element ? (element.id ?? null) : null;
      let msg: McpMessage;
      try {
        msg = classify(element, headers);
      } catch (err) {
        const e = err instanceof SarkError ? err : new SarkError('SARK_INVALID_REQUEST');
        this.#deps.metrics.errors.labels(e.kind.reason).inc();
        this.#deps.metrics.request.done({ method: label, outcome: 'error', t0 });
        if ('method' in element && elementId !== null) injected.push(errorObject(elementId, e, e.data));
        continue;
      }
      const v = await this.#authorizer.authorize(req, path, msg, identity, headers, t0, span);
      verdicts.push(v);
      decided.push({ label, msg, outcome: v.refusal ? 'deny' : 'allow' });
      if (v.refusal) {
        // Refused notifications and responses get no answer, as JSON-RPC says; they are audited.
        if (msg.kind === 'request') injected.push(errorObject(msg.id, v.refusal, refusalData(v)));
        continue;
      }
      allowed.push(v.forward!);
      if (v.rewrite && msg.id !== null) plan.set(msg.id, v.rewrite);
    }
    let upstream: ForwardResult | SarkError | undefined;
    let forwardedAt: number | undefined;
    if (allowed.length === 0) {
      if (injected.length === 0) res.writeHead(202).end();
      else sendJson(res, 200, JSON.stringify(injected));
    } else {
      forwardedAt = performance.now();
      // Headers that name one method or target cannot describe a batch: drop them.
      upstream = await this.#forward(req, res, null, span, {
        body: JSON.stringify(allowed),
        headers: { 'mcp-method': null, 'mcp-name': null },
        shape: { plan, injected },
      });
    }
    for (const v of verdicts) {
      this.#deps.recorder.record(auditEvent(this.#serverId, v.refusal ? v.facts : { ...v.facts, upstream }));
    }
    const failed = upstream instanceof SarkError;
    for (const d of decided) {
      const allowed = d.outcome === 'allow';
      this.#done(d.label, allowed && failed ? 'error' : d.outcome, t0, d.msg, allowed ? forwardedAt : undefined);
    }
  }

  async #bodiless(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    t0: number,
    span: RequestSpan | undefined,
  ): Promise<void> {
    req.resume();
    const headers = req.headersDistinct as HeaderLookup;
    const label = req.method === 'GET' ? 'http:get' : 'http:delete';
    let identity: Identity;
    try {
      identity = this.#identify(headers, span);
    } catch (err) {
      return this.#fail(req, res, err, null, label, t0, span);
    }
    const pseudo = httpPseudoMessage(HTTP_ACTIONS[req.method!]!, headers, undefined);
    const v = await this.#authorizer.authorize(req, path, pseudo, identity, headers, t0, span);
    // Recorded at decision time: a GET stream may stay open for hours.
    this.#deps.recorder.record(auditEvent(this.#serverId, v.facts));
    if (v.refusal) {
      this.#refuse(res, v, null, false);
      return this.#done(label, 'deny', t0, pseudo);
    }
    const forwardedAt = performance.now();
    // A stream is counted when it opens; its length is the session's, not a request's latency.
    if (req.method === 'GET') this.#done(label, 'allow', t0, pseudo, forwardedAt);
    const upstream = await this.#forward(req, res, null, span, {});
    if (req.method !== 'GET') {
      this.#done(label, upstream instanceof SarkError ? 'error' : 'allow', t0, pseudo, forwardedAt);
    }
  }

  /** Legacy transport: the SSE stream, authorized like the Streamable HTTP GET stream. */
  async #legacyStream(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    legacy: LegacyTransport,
    t0: number,
    span: RequestSpan | undefined,
  ): Promise<void> {
    req.resume();
    const headers = req.headersDistinct as HeaderLookup;
    let identity: Identity;
    try {
      identity = this.#identify(headers, span);
    } catch (err) {
      return this.#fail(req, res, err, null, 'legacy:sse', t0, span);
    }
    const pseudo = httpPseudoMessage('gateway:stream:listen', headers, 'legacy-sse');
    const v = await this.#authorizer.authorize(req, path, pseudo, identity, headers, t0, span);
    this.#deps.recorder.record(auditEvent(this.#serverId, v.facts));
    if (v.refusal) {
      this.#refuse(res, v, null, false);
      return this.#done('legacy:sse', 'deny', t0, pseudo);
    }
    this.#done('legacy:sse', 'allow', t0, pseudo, performance.now());
    try {
      await legacy.openStream(req, res, identity.id);
    } catch (err) {
      this.#upstreamFailed(err);
      this.#fail(req, res, err, null, 'upstream', t0, span);
    }
  }

  /**
   * Legacy transport: a message POSTed to a session. Enforced like a
   * Streamable HTTP POST; answers travel on the session's stream, so a
   * refused request is answered there and the POST itself gets 202.
   */
  async #legacyPost(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    sessionId: string | null,
    legacy: LegacyTransport,
    t0: number,
    span: RequestSpan | undefined,
  ): Promise<void> {
    const session = sessionId ? legacy.session(sessionId) : undefined;
    if (!session) {
      req.resume();
      throw new SarkError('SARK_NOT_FOUND', { publicDetail: 'unknown or closed legacy session' });
    }
    const contentType = req.headers['content-type'];
    if (contentType === undefined || !JSON_CONTENT_TYPE.test(contentType)) {
      req.resume();
      throw new SarkError('SARK_UNSUPPORTED_MEDIA_TYPE', { publicDetail: `got ${contentType ?? 'no content type'}` });
    }
    const raw = await readBody(req, this.#maxBodyBytes);
    const parsed = parseBody(decodeBody(raw, req.headers['content-encoding'], this.#maxBodyBytes), this.#jsonLimits);
    if (Array.isArray(parsed))
      throw new SarkError('SARK_BATCH_REJECTED', { publicDetail: 'not on the legacy transport' });
    const headers = req.headersDistinct as HeaderLookup;
    const label = methodLabel(parsed);
    let msg: McpMessage;
    let identity: Identity;
    try {
      msg = classify(parsed, headers, 'legacy-sse');
      identity = this.#identify(headers, span);
      if (identity.id !== session.agentId) {
        throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'the session belongs to another agent' });
      }
    } catch (err) {
      return this.#fail(req, res, err, 'id' in parsed ? (parsed.id ?? null) : null, label, t0, span);
    }
    const v = await this.#authorizer.authorize(req, path, msg, identity, headers, t0, span);
    if (v.refusal) {
      this.#deps.recorder.record(auditEvent(this.#serverId, v.facts));
      this.#done(label, 'deny', t0, msg);
      if (msg.kind !== 'request') return this.#refuse(res, v, null, false);
      legacy.inject(session, errorObject(msg.id, v.refusal, refusalData(v)));
      res.setHeader('x-sark-error', v.refusal.code);
      res.writeHead(202, { 'content-type': 'text/plain', 'content-length': 8 }).end('Accepted');
      return;
    }
    if (v.rewrite && msg.id !== null) session.plan.set(msg.id, v.rewrite);
    let upstream: ForwardResult | SarkError;
    const forwardedAt = performance.now();
    try {
      upstream = await legacy.post(req, res, session, JSON.stringify(v.forward));
      this.#deps.metrics.request.upstream(upstream);
    } catch (err) {
      this.#upstreamFailed(err);
      this.#fail(req, res, err, msg.id, 'upstream', t0, span);
      upstream = err instanceof SarkError ? err : new SarkError('SARK_INTERNAL', { cause: err });
    }
    this.#deps.recorder.record(auditEvent(this.#serverId, { ...v.facts, upstream }));
    this.#done(label, upstream instanceof SarkError ? 'error' : 'allow', t0, msg, forwardedAt);
  }

  /** Identity resolution, as the `sark.identity` span when the request is traced. */
  #identify(headers: HeaderLookup, span: RequestSpan | undefined): Identity {
    if (!span) return this.#deps.resolveIdentity(headers);
    const child = span.child('sark.identity');
    try {
      const identity = this.#deps.resolveIdentity(headers);
      child.end({ 'sark.identity.type': identity.type });
      return identity;
    } catch (err) {
      child.end(undefined, err instanceof SarkError ? err.code : 'SARK_INTERNAL');
      throw err;
    }
  }

  /** The request metrics of one message (sark_requests_total and its latencies, tool calls). */
  #done(label: string, outcome: RequestOutcome, t0: number, msg: McpMessage, forwardedAt?: number): void {
    this.#deps.metrics.request.done({
      method: label,
      outcome,
      t0,
      forwardedAt,
      tool: msg.method === 'tools/call' ? msg.name : undefined,
      stream: label === 'http:get' || label === 'legacy:sse',
    });
  }

  #upstreamFailed(err: unknown): void {
    const timeout = err instanceof SarkError && err.code === 'SARK_UPSTREAM_TIMEOUT';
    this.#deps.metrics.request.upstream({ failure: timeout ? 'timeout' : 'unavailable' });
  }

  async #forward(
    req: IncomingMessage,
    res: ServerResponse,
    id: JsonRpcId | null,
    span: RequestSpan | undefined,
    request: UpstreamRequest,
  ): Promise<ForwardResult | SarkError> {
    // The upstream call as a client span; the MCP server continues the trace from it (W3C traceparent).
    const call = span?.child(req.method ?? 'POST', { 'url.path': this.#deps.upstream.path }, 'client');
    if (call) request = { ...request, headers: { ...request.headers, ...propagationHeaders(call) } };
    try {
      const result = await this.#deps.upstream.forward(req, res, request);
      this.#deps.metrics.request.upstream(result);
      call?.end({ 'http.response.status_code': result.status });
      return result;
    } catch (err) {
      this.#upstreamFailed(err);
      call?.end(undefined, err instanceof SarkError ? err.code : 'SARK_INTERNAL');
      this.#fail(req, res, err, id, 'upstream', performance.now(), span);
      return err instanceof SarkError ? err : new SarkError('SARK_INTERNAL', { cause: err });
    }
  }

  /**
   * Answers a refused message. A request gets its JSON-RPC error with the
   * refusal's status (HTTP 200 for policy refusals, so MCP clients surface
   * them as the call's error); what is not a request — a notification, a
   * stream, a session end — has no call to fail, and gets 403 instead of 200.
   */
  #refuse(res: ServerResponse, v: Verdict, id: JsonRpcId | null, isRequest: boolean): void {
    const refusal = v.refusal!;
    if (v.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(v.retryAfterSeconds));
    const status = !isRequest && refusal.kind.httpStatus === 200 ? 403 : refusal.kind.httpStatus;
    this.#reply(res, status, id, refusal, refusalData(v));
  }

  /**
   * The one mapping from a thrown error to an HTTP answer. `label` 'upstream'
   * is an allowed message whose forwarding failed: its caller counts it.
   */
  #fail(
    req: IncomingMessage,
    res: ServerResponse,
    err: unknown,
    id: JsonRpcId | null,
    label: string,
    t0: number,
    span: RequestSpan | undefined,
  ): void {
    const sark =
      err instanceof SarkError ? err : new SarkError('SARK_INTERNAL', { detail: (err as Error)?.message, cause: err });
    this.#deps.metrics.errors.labels(sark.kind.reason).inc();
    if (label !== 'upstream') this.#deps.metrics.request.done({ method: label, outcome: 'error', t0 });
    if (sark.code === 'SARK_INTERNAL') {
      this.#deps.logger.error(
        {
          ...requestFields(undefined, traceIdOf(span, req.headers)),
          code: sark.code,
          detail: sark.message,
          stack: (err as Error)?.stack,
        },
        'unexpected error on the request path',
      );
    } else if (this.#deps.logger.isLevelEnabled('debug')) {
      this.#deps.logger.debug(
        { ...requestFields(undefined, traceIdOf(span, req.headers)), code: sark.code, detail: sark.message },
        'request refused',
      );
    }
    if (!res.headersSent) {
      if (sark.code === 'SARK_BODY_TOO_LARGE') res.setHeader('connection', 'close');
      if (sark.code === 'SARK_UNAUTHENTICATED') res.setHeader('www-authenticate', 'Bearer realm="sark"');
    }
    this.#reply(res, sark.kind.httpStatus, id, sark, sark.data);
  }

  #reply(res: ServerResponse, status: number, id: JsonRpcId | null, err: SarkError, data: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.setHeader('x-sark-error', err.code);
    sendJson(res, status, errorResponse(id, err.kind.rpcCode, err.safeMessage, data));
  }
}

/** The tool name of a tools/call, for the span (traces may carry names; metrics get the bounded label). */
function toolOf(msg: McpMessage): string | undefined {
  return msg.method === 'tools/call' ? msg.name : undefined;
}
