/**
 * How the forward stage answers Envoy's ext_authz Check: with a CheckResponse
 * through the gRPC callback the adapter put in the Intake's context. Envoy,
 * not SARK, forwards the request, and it forwards the client's own bytes:
 *
 * - allowed: `ok_response` sets `x-sark-request-id`, sets the MCP routing
 *   headers derived from the authorized message (2026-07-28: Mcp-Method,
 *   Mcp-Name, MCP-Protocol-Version, Mcp-Param-*) and removes them otherwise,
 *   removes every `Mcp-Param-*` header SARK did not derive, and removes the
 *   client's credentials (`authorization`, `x-api-key`: no token
 *   passthrough) — or sets SARK's own `authorization` with `upstreamAuth`;
 * - refused: `denied_response` with exactly the status, headers
 *   (`WWW-Authenticate` included) and JSON-RPC error body the MCP listener
 *   would send (answer.ts).
 *
 * What ext_authz cannot do, because Envoy forwards the client's bytes and
 * SARK never sees the server's answer, is refused (fail closed):
 * - a message SARK would forward in another form — an argument edit
 *   (`obligations.arguments`) or a rewritten protocol version: ext_authz has
 *   no body mutation; always refused;
 * - answer obligations (tools/list, prompts/list, resources/list,
 *   resources/templates/list filtering, 2026 list TTL caps, tasks/list
 *   filtering, task-augmented requests' task binding, subscriptions/listen
 *   notification filtering, session end on DELETE), and requests in a 2025
 *   session (SARK cannot bind a session it never sees assigned, so it cannot
 *   check who owns it): refused unless `extAuthzUnenforceable` is `allow`.
 * A batch is forwarded whole or not at all: one refused element refuses
 * every element.
 */
import { SarkError } from '../errors.ts';
import { NO_ROUTING_HEADERS, routingHeaders } from '../forward/mcp-headers.ts';
import type { IdentityStage } from '../identity/stage.ts';
import type { ExtAuthzContext } from '../listen/ext-authz.ts';
import { toProtoStruct } from '../listen/proto-struct.ts';
import { type Answerer, errorObject, type RefusalAnswer } from './answer.ts';
import type { Call, Exchange } from './exchange.ts';
import type { Port } from './ports.ts';

export type Unenforceable = 'deny' | 'allow';

/** config.core.v3.HeaderValueOption, replacing any value the request had. */
interface HeaderOption {
  readonly header: { readonly key: string; readonly value: string };
  readonly append_action: 'OVERWRITE_IF_EXISTS_OR_ADD';
}

/** service.auth.v3.CheckResponse, as @grpc/proto-loader serializes it (keepCase). */
export interface CheckResponse {
  readonly status: { readonly code: number; readonly message?: string };
  readonly ok_response?: {
    readonly headers: readonly HeaderOption[];
    readonly headers_to_remove: readonly string[];
  };
  readonly denied_response?: {
    readonly status: { readonly code: number };
    readonly headers: readonly HeaderOption[];
    readonly body: string;
  };
  readonly dynamic_metadata?: unknown;
}

/** google.rpc.Code (google/rpc/code.proto). */
const RPC_OK = 0;
const RPC_PERMISSION_DENIED = 7;
const RPC_UNAUTHENTICATED = 16;
/** The client's credentials are SARK's, never the server's (as forward/headers.ts drops them). */
const CREDENTIALS = ['authorization', 'x-api-key'] as const;
const PARAM_HEADER = 'mcp-param-';

function option(key: string, value: string): HeaderOption {
  return { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

type UpstreamCredential = Pick<IdentityStage, 'upstreamAuthorization'>;

export class ExtAuthzPort implements Port {
  readonly #answer: Answerer;
  readonly #credential: UpstreamCredential | undefined;
  readonly #unenforceable: Unenforceable;

  constructor(answer: Answerer, unenforceable: Unenforceable, credential?: UpstreamCredential) {
    if (unenforceable !== 'deny' && unenforceable !== 'allow') {
      throw new TypeError('extAuthzUnenforceable must be deny or allow');
    }
    this.#answer = answer;
    this.#unenforceable = unenforceable;
    this.#credential = credential;
  }

  async deliver(x: Exchange): Promise<void> {
    const ctx = x.intake.context as ExtAuthzContext;
    ctx.reply(await this.#response(x, ctx));
  }

  async #response(x: Exchange, ctx: ExtAuthzContext): Promise<CheckResponse> {
    const single = x.single;
    if (x.failure) return this.#denied(x, this.#answer.answer(x, single, x.failure, single?.isRequest ?? true));
    for (const c of x.calls) {
      if (c.refused === undefined) c.refusal = this.#unenforced(x, c, ctx.sent[c.index]);
    }
    if (single) {
      const refused = single.refused;
      if (refused) return this.#denied(x, this.#answer.answer(x, single, refused, single.isRequest));
    } else {
      const first = x.calls.find((c) => c.refused !== undefined);
      if (first) return this.#deniedBatch(x, first.refused!);
    }
    let credential: string | undefined;
    try {
      credential = x.identity ? await this.#credential?.upstreamAuthorization(x.identity) : undefined;
    } catch (err) {
      const e = err instanceof SarkError ? err : new SarkError('SARK_UPSTREAM_UNAVAILABLE', { cause: err });
      for (const c of x.calls) if (c.refused === undefined) c.refusal = e;
      return single ? this.#denied(x, this.#answer.answer(x, single, e, single.isRequest)) : this.#deniedBatch(x, e);
    }
    return this.#ok(x, single, credential);
  }

  /** Why Envoy may not forward this allowed message as the client sent it; undefined when it may. */
  #unenforced(x: Exchange, call: Call, sent: unknown): SarkError | undefined {
    const msg = call.msg;
    const v = call.verdict;
    if (!msg || !v) return undefined;
    // Bodiless GET/DELETE are not forwarded as a message; every other one must go as the client sent it.
    if (msg.method !== undefined && call.outbound !== sent) {
      const edit = v.obligations.some((o) => o.kind === 'edit_arguments');
      return new SarkError('SARK_OBLIGATION_UNSUPPORTED', {
        publicDetail: edit
          ? 'the decision edits the arguments, and ext_authz cannot rewrite the body Envoy forwards'
          : 'SARK would forward a rewritten message, and ext_authz cannot rewrite the body Envoy forwards',
      });
    }
    if (this.#unenforceable === 'allow') return undefined;
    const answer = v.obligations.find((o) => o.stage === 'forward');
    if (answer) {
      return new SarkError('SARK_OBLIGATION_UNSUPPORTED', {
        publicDetail: `the decision needs the server's answer filtered or bound (${answer.kind}), which ext_authz never sees (extAuthzUnenforceable)`,
      });
    }
    if (x.meta.sessionId !== undefined && msg.method !== 'initialize') {
      return new SarkError('SARK_OBLIGATION_UNSUPPORTED', {
        publicDetail:
          'ext_authz cannot check that the MCP session belongs to the caller: SARK never sees it assigned (extAuthzUnenforceable)',
      });
    }
    return undefined;
  }

  #ok(x: Exchange, single: Call | undefined, credential: string | undefined): CheckResponse {
    const set: HeaderOption[] = [option('x-sark-request-id', x.meta.requestId)];
    const remove: string[] = [];
    const msg = single?.msg;
    const routing =
      single && msg && msg.method !== undefined ? routingHeaders(msg, single.outbound!) : NO_ROUTING_HEADERS;
    for (const [k, v] of Object.entries(routing)) {
      if (v === null) remove.push(k);
      else set.push(option(k, v));
    }
    // Mcp-Param-* reach the server only as SARK derived them from the authorized arguments.
    for (const k in x.intake.headers) {
      if (k.startsWith(PARAM_HEADER) && !(k in routing)) remove.push(k);
    }
    for (const k of CREDENTIALS) if (k !== 'authorization' || credential === undefined) remove.push(k);
    if (credential !== undefined) set.push(option('authorization', credential));
    return {
      status: { code: RPC_OK },
      ok_response: { headers: set, headers_to_remove: remove },
      dynamic_metadata: this.#metadata(x, 'allow'),
    };
  }

  #denied(x: Exchange, a: RefusalAnswer): CheckResponse {
    const headers: HeaderOption[] = [option('x-sark-request-id', x.meta.requestId)];
    for (const [k, v] of Object.entries(a.headers)) headers.push(option(k, v));
    return {
      status: { code: a.status === 401 ? RPC_UNAUTHENTICATED : RPC_PERMISSION_DENIED },
      denied_response: { status: { code: a.status }, headers, body: a.body },
      dynamic_metadata: this.#metadata(x, 'deny'),
    };
  }

  /**
   * A batch goes whole or not at all: the elements SARK would have allowed
   * are refused too, and the answer carries an error for every request.
   */
  #deniedBatch(x: Exchange, first: SarkError): CheckResponse {
    const withPeer = new SarkError('SARK_BATCH_REJECTED', {
      publicDetail:
        'another message of the batch was refused; through ext_authz a batch is forwarded whole or not at all',
    });
    const answers: unknown[] = [];
    for (const c of x.calls) {
      if (c.refused === undefined) c.refusal = withPeer;
      const refused = c.refused!;
      if (c.id !== null && (c.isRequest || c.msg === undefined)) {
        answers.push(errorObject(x, c, refused));
      }
    }
    const a = this.#answer.answer(x, undefined, first, true);
    return this.#denied(x, {
      status: answers.length === 0 ? 403 : 200,
      headers: { 'content-type': 'application/json', 'x-sark-error': first.code },
      body: answers.length === 0 ? a.body : JSON.stringify(answers),
    });
  }

  /** Emitted as Envoy dynamic metadata (namespace envoy.filters.http.ext_authz), for access logs. */
  #metadata(x: Exchange, decision: 'allow' | 'deny'): unknown {
    return toProtoStruct({
      sark_request_id: x.meta.requestId,
      sark_decision: decision,
      sark_agent_id: x.identity?.id ?? 'unauthenticated',
    });
  }
}
