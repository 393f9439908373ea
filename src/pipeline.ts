/**
 * The request lifecycle for the MCP endpoint, in the order the stages run:
 *
 *   listen (route, content type, body limit)
 *     → mcp (parse JSON-RPC, classify, header/body agreement)
 *     → identity (API key, mesh header, anonymous)
 *     → decide (policy input, engine; every failure is a deny)
 *     → forward (re-serialized message to the MCP server, streamed back)
 *     → record (metrics, audit event)
 *
 * Any stage may throw a SarkError; `fail` is the one place that turns it into
 * an HTTP status and a JSON-RPC error body. A deny never reaches `forward`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SarkConfig } from './config/schema.ts';
import type { Decide } from './decide/engine.ts';
import { type Decision, primaryReason } from './decide/decision.ts';
import { buildInput, type RequestMeta } from './decide/input.ts';
import { SarkError } from './errors.ts';
import type { Upstream } from './forward/upstream.ts';
import type { Identity, IdentityResolver } from './identity/resolve.ts';
import { readBody } from './listen/body.ts';
import { classify, type HeaderLookup, type McpMessage } from './mcp/classify.ts';
import { errorResponse, type JsonRpcId, parseBody } from './mcp/jsonrpc.ts';
import type { Logger } from './observe/logger.ts';
import type { SarkMetrics } from './observe/metrics.ts';
import type { AuditRecorder } from './record/audit.ts';

export interface PipelineDeps {
  config: SarkConfig;
  resolveIdentity: IdentityResolver;
  decide: Decide;
  upstream: Upstream;
  recorder: AuditRecorder;
  metrics: SarkMetrics;
  logger: Logger;
}

const JSON_CONTENT_TYPE = /^application\/json\s*(;|$)/i;
const KNOWN_METHOD_LABELS = new Set([
  'initialize',
  'server/discover',
  'ping',
  'tools/call',
  'tools/list',
  'resources/read',
  'resources/list',
  'resources/templates/list',
  'resources/subscribe',
  'resources/unsubscribe',
  'subscriptions/listen',
  'prompts/get',
  'prompts/list',
  'completion/complete',
  'logging/setLevel',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
]);

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

  constructor(deps: PipelineDeps) {
    this.#deps = deps;
    this.#mcpPath = deps.config.mcpPath;
    this.#maxBodyBytes = deps.config.maxBodyBytes;
    this.#serverId = deps.config.serverId;
  }

  /** The data listener's request handler; never rejects. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.#route(req, res).catch((err) => this.#fail(res, err, null, 'internal'));
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    if (path !== this.#mcpPath) throw new SarkError('SARK_NOT_FOUND');
    switch (req.method) {
      case 'POST':
        return this.#post(req, res, path, query);
      case 'GET':
      case 'DELETE':
        return this.#bodiless(req, res, path, query);
      default:
        res.setHeader('allow', 'GET, POST, DELETE');
        throw new SarkError('SARK_METHOD_NOT_ALLOWED');
    }
  }

  async #post(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> {
    const contentType = req.headers['content-type'];
    if (contentType === undefined || !JSON_CONTENT_TYPE.test(contentType)) {
      req.resume();
      throw new SarkError('SARK_UNSUPPORTED_MEDIA_TYPE', { publicDetail: `got ${contentType ?? 'no content type'}` });
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      req.resume();
      throw new SarkError('SARK_UNSUPPORTED_MEDIA_TYPE', { publicDetail: `content-encoding ${encoding} is not accepted` });
    }
    const body = await readBody(req, this.#maxBodyBytes);
    const parsed = parseBody(body);
    if (Array.isArray(parsed)) throw new SarkError('SARK_BATCH_REJECTED');

    const headers = req.headersDistinct as HeaderLookup;
    let msg: McpMessage;
    try {
      msg = classify(parsed, headers);
    } catch (err) {
      return this.#fail(res, err, 'id' in parsed ? (parsed.id ?? null) : null, methodLabel(parsed));
    }
    const label = methodLabel(parsed);
    let identity: Identity;
    try {
      identity = this.#deps.resolveIdentity(headers);
    } catch (err) {
      return this.#fail(res, err, msg.id, label);
    }
    const meta = this.#meta(req, path);
    const input = buildInput(this.#serverId, msg, identity, meta);
    const started = performance.now();
    const decision = await this.#deps.decide(input);
    const policyMs = performance.now() - started;
    const reason = primaryReason(decision);
    this.#deps.metrics.decisions.labels(decision.allow ? 'allow' : 'deny', reason).inc();
    this.#audit(meta, msg.method ?? null, msg.action, msg.name ?? null, msg.era, identity, decision, policyMs);

    if (!decision.allow) {
      this.#deps.metrics.requests.labels(label, 'deny').inc();
      if (decision.failure) this.#deps.logger.warn({ err: decision.failure, requestId: meta.requestId }, 'policy failure, request denied');
      const err = decision.failure ?? new SarkError('SARK_POLICY_DENIED', { publicDetail: denyText(decision.reasons) });
      return this.#reply(res, msg.kind === 'notification' ? 403 : err.kind.httpStatus, msg.id, err, {
        reasons: decision.reasons,
        request_id: meta.requestId,
      });
    }
    this.#deps.metrics.requests.labels(label, 'allow').inc();
    // What goes upstream is the message the policy saw, re-serialized.
    await this.#forward(req, res, JSON.stringify(msg.message), query, msg.id);
  }

  async #bodiless(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> {
    req.resume();
    const headers = req.headersDistinct as HeaderLookup;
    const identity = this.#deps.resolveIdentity(headers);
    const meta = this.#meta(req, path);
    const action = HTTP_ACTIONS[req.method!]!;
    const pseudo: McpMessage = {
      kind: 'notification',
      id: null,
      method: undefined,
      action,
      era: headers['mcp-session-id'] ? '2025-session' : '2025-stateless',
      protocolVersion: headers['mcp-protocol-version']?.[0],
      name: undefined,
      arguments: undefined,
      clientInfo: undefined,
      clientCapabilities: undefined,
      message: { jsonrpc: '2.0', method: '' },
    };
    const input = buildInput(this.#serverId, pseudo, identity, meta);
    const started = performance.now();
    const decision = await this.#deps.decide(input);
    const policyMs = performance.now() - started;
    const reason = primaryReason(decision);
    this.#deps.metrics.decisions.labels(decision.allow ? 'allow' : 'deny', reason).inc();
    this.#audit(meta, null, action, null, pseudo.era, identity, decision, policyMs);
    const label = req.method === 'GET' ? 'http:get' : 'http:delete';
    if (!decision.allow) {
      this.#deps.metrics.requests.labels(label, 'deny').inc();
      const err = decision.failure ?? new SarkError('SARK_POLICY_DENIED', { publicDetail: denyText(decision.reasons) });
      return this.#reply(res, 403, null, err, { reasons: decision.reasons, request_id: meta.requestId });
    }
    this.#deps.metrics.requests.labels(label, 'allow').inc();
    await this.#forward(req, res, undefined, query, null);
  }

  async #forward(req: IncomingMessage, res: ServerResponse, body: string | undefined, query: string, id: JsonRpcId | null) {
    try {
      const result = await this.#deps.upstream.forward(req, res, body, query);
      this.#deps.metrics.upstreamSeconds.labels(String(result.status)).observe(result.headersMs / 1000);
    } catch (err) {
      this.#fail(res, err, id, 'upstream');
    }
  }

  #meta(req: IncomingMessage, path: string): RequestMeta {
    return {
      requestId: randomUUID(),
      httpMethod: req.method ?? 'POST',
      path,
      clientAddress: req.socket.remoteAddress,
      userAgent: req.headers['user-agent'],
      sessionId: req.headers['mcp-session-id'] as string | undefined,
      transport: 'streamable-http',
      nowMs: Date.now(),
    };
  }

  #audit(
    meta: RequestMeta,
    method: string | null,
    action: string,
    name: string | null,
    era: string,
    identity: Identity,
    decision: Decision,
    policyMs: number,
  ): void {
    this.#deps.recorder.record({
      schema_version: 1,
      ts_ms: meta.nowMs,
      request_id: meta.requestId,
      session_id: meta.sessionId ?? null,
      agent_id: identity.id,
      agent_type: identity.type,
      tenant: identity.tenant ?? null,
      server_id: this.#serverId,
      method,
      action,
      tool: method === 'tools/call' ? name : null,
      decision: decision.allow ? 'allow' : 'deny',
      reasons: decision.reasons.map((r) => r.code),
      policy_ms: Math.round(policyMs * 1000) / 1000,
      era,
      client_address: meta.clientAddress ?? null,
    });
  }

  /** The one mapping from a thrown error to an HTTP answer. */
  #fail(res: ServerResponse, err: unknown, id: JsonRpcId | null, label: string): void {
    const sark =
      err instanceof SarkError ? err : new SarkError('SARK_INTERNAL', { detail: (err as Error)?.message, cause: err });
    this.#deps.metrics.errors.labels(sark.kind.reason).inc();
    this.#deps.metrics.requests.labels(label, 'error').inc();
    if (sark.code === 'SARK_INTERNAL') this.#deps.logger.error({ err }, 'unexpected error on the request path');
    else this.#deps.logger.debug({ code: sark.code, detail: sark.message }, 'request refused');
    if (sark.code === 'SARK_BODY_TOO_LARGE' && !res.headersSent) res.setHeader('connection', 'close');
    if (sark.code === 'SARK_UNAUTHENTICATED' && !res.headersSent) res.setHeader('www-authenticate', 'Bearer realm="sark"');
    this.#reply(res, sark.kind.httpStatus, id, sark, sark.data);
  }

  #reply(res: ServerResponse, status: number, id: JsonRpcId | null, err: SarkError, data: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = errorResponse(id, err.kind.rpcCode, err.safeMessage, data);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-sark-error': err.code,
    });
    res.end(body);
  }
}

function methodLabel(m: unknown): string {
  const method = (m as { method?: unknown }).method;
  if (typeof method !== 'string') return 'response';
  return KNOWN_METHOD_LABELS.has(method) ? method : 'other';
}

function denyText(reasons: readonly { code: string; message?: string }[]): string | undefined {
  const first = reasons[0];
  if (!first) return undefined;
  return first.message ? `${first.message} (${first.code})` : first.code;
}
