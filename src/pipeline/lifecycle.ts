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
import type { Logger } from '../observe/logger.ts';
import type { SarkMetrics } from '../observe/metrics.ts';
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
    this.#route(req, res).catch((err) => this.#fail(res, err, null, 'internal'));
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    // Exact match: case, slash, dot-segment, encoded and matrix variants of the
    // endpoint are 404s. The query string is never forwarded.
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== this.#mcpPath) {
      const legacy = this.#deps.legacy;
      if (legacy && path === this.#deps.config.legacySsePath && req.method === 'GET') {
        return this.#legacyStream(req, res, path, legacy);
      }
      if (legacy && path === this.#deps.config.legacyMessagesPath && req.method === 'POST') {
        return this.#legacyPost(req, res, path, new URLSearchParams(url.slice(q + 1)).get('sessionId'), legacy);
      }
      req.resume();
      throw new SarkError('SARK_NOT_FOUND');
    }
    switch (req.method) {
      case 'POST':
        return this.#post(req, res, path);
      case 'GET':
      case 'DELETE':
        return this.#bodiless(req, res, path);
      default:
        req.resume();
        res.setHeader('allow', 'GET, POST, DELETE');
        throw new SarkError('SARK_METHOD_NOT_ALLOWED');
    }
  }

  async #post(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const t0 = performance.now();
    const contentType = req.headers['content-type'];
    if (contentType === undefined || !JSON_CONTENT_TYPE.test(contentType)) {
      req.resume();
      throw new SarkError('SARK_UNSUPPORTED_MEDIA_TYPE', { publicDetail: `got ${contentType ?? 'no content type'}` });
    }
    const raw = await readBody(req, this.#maxBodyBytes);
    const body = await decodeBody(raw, req.headers['content-encoding'], this.#maxBodyBytes);
    const parsed = parseBody(body, this.#jsonLimits);
    const headers = req.headersDistinct as HeaderLookup;
    if (Array.isArray(parsed)) return this.#batch(req, res, path, parsed, headers, t0);

    const label = methodLabel(parsed);
    let msg: McpMessage;
    let identity: Identity;
    try {
      msg = classify(parsed, headers);
      identity = this.#deps.resolveIdentity(headers);
    } catch (err) {
      return this.#fail(res, err, 'id' in parsed ? (parsed.id ?? null) : null, label);
    }
    const v = await this.#authorizer.authorize(req, path, msg, identity, headers, t0);
    this.#count(label, v);
    if (v.refusal) {
      this.#deps.recorder.record(auditEvent(this.#serverId, v.facts));
      return this.#refuse(res, v, msg.id, msg.kind !== 'notification');
    }
    const upstream = await this.#forward(req, res, msg.id, {
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
  ): Promise<void> {
    if (this.#rejectBatches) throw new SarkError('SARK_BATCH_REJECTED');
    // MCP 2026-07-28 (Transports): batches may not carry requests of that revision.
    if (MODERN.has(headers['mcp-protocol-version']?.[0] ?? '') || batch.some(isModernEnvelope)) {
      throw new SarkError('SARK_INVALID_REQUEST', {
        publicDetail: 'JSON-RPC batches may not contain requests for protocol revision 2026-07-28 or later',
      });
    }
    const identity = this.#deps.resolveIdentity(headers);
    const injected: unknown[] = [];
    const allowed: JsonRpcMessage[] = [];
    const plan: ResponsePlan = new Map();
    const verdicts: Verdict[] = [];
    for (const element of batch) {
      const label = methodLabel(element);
      const elementId = 'id' in element ? (element.id ?? null) : null;
      let msg: McpMessage;
      try {
        msg = classify(element, headers);
      } catch (err) {
        const e = err instanceof SarkError ? err : new SarkError('SARK_INVALID_REQUEST');
        this.#deps.metrics.errors.labels(e.kind.reason).inc();
        this.#deps.metrics.requests.labels(label, 'error').inc();
        if ('method' in element && elementId !== null) injected.push(errorObject(elementId, e, e.data));
        continue;
      }
      const v = await this.#authorizer.authorize(req, path, msg, identity, headers, t0);
      verdicts.push(v);
      this.#count(label, v);
      if (v.refusal) {
        // Refused notifications and responses get no answer, as JSON-RPC says; they are audited.
        if (msg.kind === 'request') injected.push(errorObject(msg.id, v.refusal, refusalData(v)));
        continue;
      }
      allowed.push(v.forward!);
      if (v.rewrite && msg.id !== null) plan.set(msg.id, v.rewrite);
    }
    let upstream: ForwardResult | SarkError | undefined;
    if (allowed.length === 0) {
      if (injected.length === 0) res.writeHead(202).end();
      else sendJson(res, 200, JSON.stringify(injected));
    } else {
      // Headers that name one method or target cannot describe a batch: drop them.
      upstream = await this.#forward(req, res, null, {
        body: JSON.stringify(allowed),
        headers: { 'mcp-method': null, 'mcp-name': null },
        shape: { plan, injected },
      });
    }
    for (const v of verdicts) {
      this.#deps.recorder.record(auditEvent(this.#serverId, v.refusal ? v.facts : { ...v.facts, upstream }));
    }
  }

  async #bodiless(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const t0 = performance.now();
    req.resume();
    const headers = req.headersDistinct as HeaderLookup;
    const label = req.method === 'GET' ? 'http:get' : 'http:delete';
    let identity: Identity;
    try {
      identity = this.#deps.resolveIdentity(headers);
    } catch (err) {
      return this.#fail(res, err, null, label);
    }
    const pseudo = httpPseudoMessage(HTTP_ACTIONS[req.method!]!, headers, undefined);
    const v = await this.#authorizer.authorize(req, path, pseudo, identity, headers, t0);
    // Recorded at decision time: a GET stream may stay open for hours.
    this.#deps.recorder.record(auditEvent(this.#serverId, v.facts));
    this.#count(label, v);
    if (v.refusal) return this.#refuse(res, v, null, false);
    await this.#forward(req, res, null, {});
  }

  /** Legacy transport: the SSE stream, authorized like the Streamable HTTP GET stream. */
  async #legacyStream(req: IncomingMessage, res: ServerResponse, path: string, legacy: LegacyTransport): Promise<void> {
    const t0 = performance.now();
    req.resume();
    const headers = req.headersDistinct as HeaderLookup;
    let identity: Identity;
    try {
      identity = this.#deps.resolveIdentity(headers);
    } catch (err) {
      return this.#fail(res, err, null, 'legacy:sse');
    }
    const pseudo = httpPseudoMessage('gateway:stream:listen', headers, 'legacy-sse');
    const v = await this.#authorizer.authorize(req, path, pseudo, identity, headers, t0);
    this.#deps.recorder.record(auditEvent(this.#serverId, v.facts));
    this.#count('legacy:sse', v);
    if (v.refusal) return this.#refuse(res, v, null, false);
    try {
      await legacy.openStream(req, res, identity.id);
    } catch (err) {
      this.#fail(res, err, null, 'upstream');
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
  ): Promise<void> {
    const t0 = performance.now();
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
    const parsed = parseBody(
      await decodeBody(raw, req.headers['content-encoding'], this.#maxBodyBytes),
      this.#jsonLimits,
    );
    if (Array.isArray(parsed))
      throw new SarkError('SARK_BATCH_REJECTED', { publicDetail: 'not on the legacy transport' });
    const headers = req.headersDistinct as HeaderLookup;
    const label = methodLabel(parsed);
    let msg: McpMessage;
    let identity: Identity;
    try {
      msg = classify(parsed, headers, 'legacy-sse');
      identity = this.#deps.resolveIdentity(headers);
      if (identity.id !== session.agentId) {
        throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'the session belongs to another agent' });
      }
    } catch (err) {
      return this.#fail(res, err, 'id' in parsed ? (parsed.id ?? null) : null, label);
    }
    const v = await this.#authorizer.authorize(req, path, msg, identity, headers, t0);
    this.#count(label, v);
    if (v.refusal) {
      this.#deps.recorder.record(auditEvent(this.#serverId, v.facts));
      if (msg.kind !== 'request') return this.#refuse(res, v, null, false);
      legacy.inject(session, errorObject(msg.id, v.refusal, refusalData(v)));
      res.setHeader('x-sark-error', v.refusal.code);
      res.writeHead(202, { 'content-type': 'text/plain', 'content-length': 8 }).end('Accepted');
      return;
    }
    if (v.rewrite && msg.id !== null) session.plan.set(msg.id, v.rewrite);
    let upstream: ForwardResult | SarkError;
    try {
      upstream = await legacy.post(req, res, session, JSON.stringify(v.forward));
    } catch (err) {
      this.#fail(res, err, msg.id, 'upstream');
      upstream = err instanceof SarkError ? err : new SarkError('SARK_INTERNAL', { cause: err });
    }
    this.#deps.recorder.record(auditEvent(this.#serverId, { ...v.facts, upstream }));
  }

  /** Counts a decided message in sark_requests_total by its method label and outcome. */
  #count(label: string, v: Verdict): void {
    this.#deps.metrics.requests.labels(label, v.refusal ? 'deny' : 'allow').inc();
  }

  async #forward(
    req: IncomingMessage,
    res: ServerResponse,
    id: JsonRpcId | null,
    request: UpstreamRequest,
  ): Promise<ForwardResult | SarkError> {
    try {
      const result = await this.#deps.upstream.forward(req, res, request);
      this.#deps.metrics.upstreamSeconds.labels(String(result.status)).observe(result.headersMs / 1000);
      return result;
    } catch (err) {
      this.#fail(res, err, id, 'upstream');
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

  /** The one mapping from a thrown error to an HTTP answer. */
  #fail(res: ServerResponse, err: unknown, id: JsonRpcId | null, label: string): void {
    const sark =
      err instanceof SarkError ? err : new SarkError('SARK_INTERNAL', { detail: (err as Error)?.message, cause: err });
    this.#deps.metrics.errors.labels(sark.kind.reason).inc();
    this.#deps.metrics.requests.labels(label, 'error').inc();
    if (sark.code === 'SARK_INTERNAL') {
      this.#deps.logger.error(
        { code: sark.code, detail: sark.message, stack: (err as Error)?.stack },
        'unexpected error on the request path',
      );
    } else if (this.#deps.logger.isLevelEnabled('debug')) {
      this.#deps.logger.debug({ code: sark.code, detail: sark.message }, 'request refused');
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
