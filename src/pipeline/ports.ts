/**
 * How the forward stage answers each transport: a port sends the allowed
 * messages upstream and relays the answer through the answer plan, or gives
 * SARK's own answers. One per transport; the entry points that only ask for
 * decisions (the decision API, ext_authz) bring their own.
 */
import { SarkError } from '../errors.ts';
import { AnswerPlan } from '../forward/answer-plan.ts';
import type { LegacyTransport } from '../forward/legacy.ts';
import { NO_ROUTING_HEADERS, routingHeaders } from '../forward/mcp-headers.ts';
import type { ForwardResult, Upstream } from '../forward/upstream.ts';
import type { IdentityStage } from '../identity/stage.ts';
import { propagationHeaders } from '../observe/tracing.ts';
import { type Answerer, errorObject } from './answer.ts';
import type { Call, Exchange } from './exchange.ts';

export interface Port {
  /** Answers the exchange: forwards what is allowed, refuses the rest. Never throws. */
  deliver(x: Exchange): Promise<void>;
}

function planOf(calls: readonly Call[]): AnswerPlan {
  const plan = new AnswerPlan();
  for (const c of calls) if (c.verdict && c.refused === undefined) plan.add(c.id, c.verdict.obligations);
  return plan;
}

function asSarkError(err: unknown): SarkError {
  return err instanceof SarkError ? err : new SarkError('SARK_INTERNAL', { detail: String(err), cause: err });
}

/** MCP Streamable HTTP: POST (one message or a batch), and the bodiless GET stream and DELETE. */
/** The credential SARK itself presents upstream (no token passthrough: the client's is never forwarded). */
type UpstreamCredential = Pick<IdentityStage, 'upstreamAuthorization'>;

export class StreamableHttpPort implements Port {
  readonly #upstream: Upstream;
  readonly #answer: Answerer;
  readonly #credential: UpstreamCredential | undefined;

  constructor(upstream: Upstream, answer: Answerer, credential?: UpstreamCredential) {
    this.#upstream = upstream;
    this.#answer = answer;
    this.#credential = credential;
  }

  async deliver(x: Exchange): Promise<void> {
    const res = x.intake.res!;
    const single = x.single;
    if (x.failure) {
      this.#answer.refuse(res, x, single, x.failure, single?.isRequest ?? true);
      return;
    }
    if (single) {
      const refused = single.refused;
      if (refused) {
        this.#answer.refuse(res, x, single, refused, single.isRequest);
        return;
      }
      const msg = single.msg!;
      const body =
        msg.method === undefined && msg.kind === 'notification' ? undefined : JSON.stringify(single.outbound);
      await this.#forward(x, single, {
        body,
        headers: body === undefined ? undefined : routingHeaders(msg, single.outbound!),
        plan: planOf(x.calls),
        injected: [],
        // The GET stream may stay open for hours: it is recorded once open.
        detach: body === undefined,
      });
      return;
    }
    // A batch: SARK answers the refused requests itself, in the same batch answer.
    const injected: unknown[] = [];
    const allowed: unknown[] = [];
    for (const c of x.calls) {
      const refused = c.refused;
      if (refused === undefined) allowed.push(c.outbound);
      // Refused notifications and responses get no answer, as JSON-RPC says; they are audited.
      else if (c.id !== null && (c.isRequest || c.msg === undefined)) injected.push(errorObject(x, c, refused));
    }
    if (allowed.length === 0) {
      if (injected.length === 0) res.writeHead(202).end();
      else {
        const text = JSON.stringify(injected);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
      return;
    }
    await this.#forward(x, undefined, {
      body: JSON.stringify(allowed),
      headers: NO_ROUTING_HEADERS,
      plan: planOf(x.calls),
      injected,
    });
  }

  async #forward(x: Exchange, call: Call | undefined, out: Parameters<Upstream['forward']>[2]): Promise<void> {
    const req = x.intake.req!;
    // The upstream call as a client span, its traceparent sent upstream (W3C Trace Context).
    const span = x.span?.child(req.method ?? 'POST', { 'server.address': this.#upstream.path }, 'client');
    try {
      const credential = x.identity ? this.#credential?.upstreamAuthorization(x.identity) : undefined;
      if (credential !== undefined || span !== undefined) {
        const extra: Record<string, string | null> = { ...out.headers };
        if (credential !== undefined) extra.authorization = await credential;
        if (span !== undefined) Object.assign(extra, propagationHeaders(span));
        out = { ...out, headers: extra };
      }
      x.forwardedAt = performance.now();
      x.upstream = await this.#upstream.forward(req, x.intake.res!, out);
      span?.end({ 'http.response.status_code': x.upstream.status });
    } catch (err) {
      const e = asSarkError(err);
      x.upstream = e;
      span?.end(undefined, e.code);
      this.#answer.refuse(x.intake.res!, x, call, e, true);
    }
  }
}

/** MCP 2024-11-05 HTTP+SSE: the GET stream, and messages POSTed to a session whose answers travel on the stream. */
export class LegacyPort implements Port {
  readonly #legacy: LegacyTransport;
  readonly #answer: Answerer;

  constructor(legacy: LegacyTransport, answer: Answerer) {
    this.#legacy = legacy;
    this.#answer = answer;
  }

  async deliver(x: Exchange): Promise<void> {
    const res = x.intake.res!;
    const req = x.intake.req!;
    const call = x.single;
    if (x.failure || !call) {
      this.#answer.refuse(res, x, call, x.failure ?? new SarkError('SARK_INVALID_REQUEST'), call?.isRequest ?? true);
      return;
    }
    const refused = call.refused;
    if (x.intake.meta.httpMethod === 'GET') {
      if (refused) return this.#answer.refuse(res, x, call, refused, false);
      try {
        x.forwardedAt = performance.now();
        x.upstream = await this.#legacy.openStream(req, res, planOf(x.calls));
      } catch (err) {
        x.upstream = asSarkError(err);
        this.#answer.refuse(res, x, call, x.upstream, false);
      }
      return;
    }
    const sessionId = x.intake.meta.sessionId;
    const session = sessionId === undefined ? undefined : this.#legacy.session(sessionId);
    if (!session) {
      return this.#answer.refuse(res, x, call, new SarkError('SARK_SESSION_NOT_FOUND'), call.isRequest);
    }
    if (refused) {
      // Legacy clients read answers only on the stream: a refused request is answered there —
      // unless the caller does not own the session, who must learn nothing of it and reach nothing in it.
      if (!call.isRequest || refused.code === 'SARK_SESSION_NOT_FOUND') {
        return this.#answer.refuse(res, x, call, refused, call.isRequest);
      }
      this.#legacy.inject(session, errorObject(x, call, refused));
      res.writeHead(202, { 'content-type': 'text/plain', 'content-length': 8, 'x-sark-error': refused.code });
      res.end('Accepted');
      return;
    }
    try {
      x.forwardedAt = performance.now();
      const result: ForwardResult = await this.#legacy.post(
        req,
        res,
        session,
        JSON.stringify(call.outbound),
        call.isRequest ? call.id : null,
        planOf(x.calls),
      );
      x.upstream = result;
    } catch (err) {
      x.upstream = asSarkError(err);
      this.#answer.refuse(res, x, call, x.upstream, call.isRequest);
    }
  }
}
