/**
 * The Envoy ext_authz adapter: turns a CheckRequest
 * (envoy.service.auth.v3.Authorization/Check) into an Intake, so that the
 * request Envoy asks about goes through the same stages as one sent to the
 * MCP listener — same parsing, limits, classification, identity, decision,
 * cache, metrics and audit. Only the answer differs (ExtAuthzPort).
 *
 * What is read from the CheckRequest (envoy/service/auth/v3/attribute_context.proto):
 * - `attributes.request.http`: method, path (the query string is dropped, as
 *   on the MCP listener), headers — `header_map` when Envoy sends it
 *   (`encode_raw_headers`: repeated headers stay separate values), else the
 *   `headers` map (Envoy joins repeated headers with a comma); names
 *   lower-cased, pseudo-headers (`:path`…) left out.
 * - The MCP message: the body when Envoy is configured `with_request_body`
 *   (`raw_body` with `pack_as_bytes`, else `body`), under the same media type,
 *   content coding, size and strict-JSON rules as the MCP listener; a body
 *   Envoy cut short (`x-envoy-auth-partial-body: true`) is refused. Without a
 *   body, the JSON-RPC fields Envoy's MCP filter publishes in
 *   `metadata_context.filter_metadata["mcp_proxy"]` (jsonrpc, id, method,
 *   params), serialized and parsed by the same strict parser.
 * - `attributes.source.principal`: the caller's identity from the mTLS
 *   handshake Envoy terminated (a SPIFFE ID in a mesh), handed to the
 *   identity stage as the peer principal. The client address SARK records and
 *   checks against `meshTrustedCidrs` is the address of the Envoy that asks —
 *   as on the MCP listener behind that Envoy.
 * Never throws: a refusal of the whole request is the Intake's `failure`.
 */
import { randomUUID } from 'node:crypto';
import { SarkError } from '../errors.ts';
import type { HeaderLookup } from '../mcp/classify.ts';
import { type JsonRpcMessage, parseBody } from '../mcp/jsonrpc.ts';
import { decodeBody } from './body.ts';
import type { Intake, IntakeMessage, RequestMeta } from './intake.ts';
import { fromProtoStruct, type ProtoStruct } from './proto-struct.ts';
import {
  type BodyOptions,
  checkBatch,
  classifyOne,
  httpLabel,
  httpPseudoMessage,
  JSON_CONTENT_TYPE,
  pseudoIntakeMessage,
} from './streamable-http.ts';

/** The namespace Envoy's MCP filter (envoy.filters.http.mcp) publishes its parsed JSON-RPC fields under. */
export const MCP_METADATA_NAMESPACE = 'mcp_proxy';
/** Set by Envoy when `with_request_body.allow_partial_message` cut the body at `max_request_bytes`. */
const PARTIAL_BODY = 'x-envoy-auth-partial-body';
/** The JSON-RPC members taken from the MCP filter's metadata; anything else it publishes is not part of the message. */
const JSONRPC_MEMBERS = ['jsonrpc', 'id', 'method', 'params'] as const;

/** `AttributeContext.HttpRequest`, the part SARK reads. */
export interface HttpAttributes {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly header_map?: {
    readonly headers?: readonly { readonly key?: string; readonly value?: string; readonly raw_value?: Buffer }[];
  } | null;
  readonly body?: string;
  readonly raw_body?: Buffer | Uint8Array;
}

/** The part of a CheckRequest SARK reads, as decoded with keepCase (snake_case field names). */
export interface CheckRequest {
  readonly attributes?: {
    readonly source?: { readonly principal?: string } | null;
    readonly request?: { readonly http?: HttpAttributes | null } | null;
    readonly metadata_context?: { readonly filter_metadata?: Readonly<Record<string, ProtoStruct>> } | null;
  } | null;
}

/** What the port needs to answer a Check: the gRPC callback, and the messages as the client sent them. */
export interface ExtAuthzContext {
  /** Sends the CheckResponse (once; later calls are ignored). */
  readonly reply: (response: unknown) => void;
  /**
   * Each message as parsed from what Envoy will forward, by index; the port
   * refuses a message SARK would have forwarded in another form (an argument
   * edit, a rewritten version), since Envoy forwards the client's bytes.
   */
  readonly sent: readonly (JsonRpcMessage | undefined)[];
}

const HTTP_ACTIONS: Readonly<Record<string, string>> = {
  GET: 'gateway:stream:listen',
  DELETE: 'gateway:session:end',
};

/** The request's headers in the HeaderLookup shape: lower-case names, values in order. */
export function headerLookup(
  http: NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http'],
): HeaderLookup {
  const out: Record<string, string[]> = {};
  const add = (name: string, value: string) => {
    const k = name.toLowerCase();
    if (k.startsWith(':')) return;
    const list = out[k];
    if (list) list.push(value);
    else out[k] = [value];
  };
  const entries = http?.header_map?.headers;
  if (entries && entries.length > 0) {
    for (const h of entries) {
      if (!h.key) continue;
      add(h.key, h.raw_value && h.raw_value.length > 0 ? Buffer.from(h.raw_value).toString('latin1') : (h.value ?? ''));
    }
  } else {
    for (const [k, v] of Object.entries(http?.headers ?? {})) add(k, v);
  }
  return out;
}

export class ExtAuthzAdapter {
  readonly #o: BodyOptions;

  constructor(options: BodyOptions) {
    if (!Number.isInteger(options.batchMaxElements) || options.batchMaxElements < 1) {
      throw new TypeError('batchMaxElements must be a positive integer');
    }
    this.#o = options;
  }

  /**
   * The Intake of one CheckRequest. `peerAddress` is the address of the
   * Envoy that asks (the gRPC peer); `reply` answers the Check.
   */
  async intake(
    check: CheckRequest,
    peerAddress: string | undefined,
    reply: (r: unknown) => void,
    t0: number,
  ): Promise<Intake> {
    const http = check.attributes?.request?.http ?? undefined;
    const headers = headerLookup(http);
    const target = http?.path ?? '';
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const method = (http?.method ?? '').toUpperCase();
    const session = headers['mcp-session-id'];
    const tp = headers.traceparent;
    const meta: RequestMeta = {
      requestId: randomUUID(),
      serverId: this.#o.serverId,
      httpMethod: method,
      path,
      clientAddress: peerAddress,
      userAgent: headers['user-agent']?.[0],
      sessionId: session?.length === 1 ? session[0] : undefined,
      transport: 'ext-authz',
      nowMs: Date.now(),
      t0,
      traceparent: tp?.length === 1 ? tp[0] : undefined,
    };
    const sent: (JsonRpcMessage | undefined)[] = [];
    const principal = check.attributes?.source?.principal;
    const base = {
      transport: 'ext-authz' as const,
      meta,
      headers,
      req: undefined,
      res: undefined,
      peerPrincipal: principal === undefined || principal === '' ? undefined : principal,
      context: { reply, sent } satisfies ExtAuthzContext,
    };
    const label = httpLabel(method);
    const refuse = (failure: SarkError, messages: readonly IntakeMessage[] = []): Intake => ({
      ...base,
      messages,
      batch: false,
      failure,
      label,
    });
    if (http === undefined) {
      return refuse(
        new SarkError('SARK_INVALID_REQUEST', { publicDetail: 'the CheckRequest carries no HTTP request' }),
      );
    }
    if (session !== undefined && session.length !== 1) {
      return refuse(new SarkError('SARK_HEADER_MISMATCH', { publicDetail: 'the mcp-session-id header is repeated' }));
    }
    if (method === 'GET' || method === 'DELETE') {
      const msg = pseudoIntakeMessage(label, httpPseudoMessage(HTTP_ACTIONS[method]!, headers, undefined));
      return { ...base, messages: [msg], batch: false, failure: undefined, label };
    }
    if (method !== 'POST') return refuse(new SarkError('SARK_METHOD_NOT_ALLOWED'));
    let parsed: JsonRpcMessage | JsonRpcMessage[];
    try {
      parsed = await this.#messages(check, http, headers);
      if (Array.isArray(parsed)) checkBatch(parsed, headers, this.#o);
    } catch (err) {
      return refuse(
        err instanceof SarkError ? err : new SarkError('SARK_INVALID_REQUEST', { detail: String(err), cause: err }),
      );
    }
    const batch = Array.isArray(parsed);
    const list = batch ? (parsed as JsonRpcMessage[]) : [parsed as JsonRpcMessage];
    const messages: IntakeMessage[] = [];
    for (const m of list) {
      sent.push(m);
      // Envoy fronts the server's Streamable HTTP endpoint: classified as the MCP listener classifies.
      messages.push(classifyOne(m, headers, 'streamable-http'));
    }
    return { ...base, messages, batch, failure: undefined, label };
  }

  /** The JSON-RPC body: Envoy's copy of it, or the MCP filter's metadata. Throws a SarkError. */
  async #messages(
    check: CheckRequest,
    http: HttpAttributes,
    headers: HeaderLookup,
  ): Promise<JsonRpcMessage | JsonRpcMessage[]> {
    const o = this.#o;
    if (headers[PARTIAL_BODY]?.[0]?.toLowerCase() === 'true') {
      throw new SarkError('SARK_BODY_TOO_LARGE', {
        publicDetail: 'Envoy sent part of the body only (with_request_body.max_request_bytes)',
      });
    }
    const raw =
      http.raw_body && http.raw_body.length > 0
        ? Buffer.from(http.raw_body)
        : http.body
          ? Buffer.from(http.body, 'utf8')
          : undefined;
    if (raw !== undefined) {
      const contentType = headers['content-type']?.[0];
      if (contentType === undefined || !JSON_CONTENT_TYPE.test(contentType)) {
        throw new SarkError('SARK_UNSUPPORTED_MEDIA_TYPE', { publicDetail: `got ${contentType ?? 'no content type'}` });
      }
      if (raw.length > o.maxBodyBytes) {
        throw new SarkError('SARK_BODY_TOO_LARGE', { publicDetail: `limit is ${o.maxBodyBytes} bytes` });
      }
      const encoding = headers['content-encoding'];
      if (encoding !== undefined && encoding.length > 1) {
        throw new SarkError('SARK_UNSUPPORTED_MEDIA_TYPE', { publicDetail: 'stacked content encodings' });
      }
      return parseBody(await decodeBody(raw, encoding?.[0], o.maxBodyBytes), o.jsonLimits);
    }
    const published = check.attributes?.metadata_context?.filter_metadata?.[MCP_METADATA_NAMESPACE];
    if (published !== undefined && published !== null) {
      const fields = fromProtoStruct(published);
      // The filter publishes only valid JSON-RPC 2.0 messages; it may leave the version out.
      const message: Record<string, unknown> = { jsonrpc: '2.0' };
      for (const k of JSONRPC_MEMBERS) if (k in fields) message[k] = fields[k];
      // Serialized and parsed again: the same strict parser and limits as a body.
      const text = JSON.stringify(message);
      if (Buffer.byteLength(text) > o.maxBodyBytes) {
        throw new SarkError('SARK_BODY_TOO_LARGE', { publicDetail: `limit is ${o.maxBodyBytes} bytes` });
      }
      return parseBody(text, o.jsonLimits);
    }
    throw new SarkError('SARK_INVALID_REQUEST', {
      publicDetail: 'the CheckRequest carries no MCP message: configure Envoy with_request_body',
    });
  }
}
