/**
 * The Streamable HTTP adapter (MCP 2025-03-26 onward, and 2026-07-28): turns
 * a request to the MCP endpoint into an Intake.
 *
 * - POST: media type `application/json` (compared without case), the body
 *   read within `maxBodyBytes`, decoded from its content coding, parsed
 *   strictly, each message classified. A batch (revisions up to 2025-03-26)
 *   is refused when batches are off, over `batchMaxElements`, when it
 *   carries 2026-07-28 messages, or when two of its requests share an id:
 *   answers are matched to requests by id, and a repeated id would make that
 *   ambiguous. A message that fails to classify is refused on its own.
 * - GET (the server's stream, and its resumption) and DELETE (session end)
 *   carry no JSON-RPC message; the policy sees them as the actions
 *   `gateway:stream:listen` and `gateway:session:end`.
 * Never throws: a refusal of the whole request is the Intake's `failure`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SarkError } from '../errors.ts';
import { classify, type HeaderLookup, type McpMessage, methodLabel, PROTOCOL_VERSIONS_2026 } from '../mcp/classify.ts';
import { type JsonRpcMessage, parseBody } from '../mcp/jsonrpc.ts';
import type { JsonLimits } from '../mcp/strict-json.ts';
import { decodeBody, readBody } from './body.ts';
import type { Intake, IntakeMessage, RequestMeta, Transport } from './intake.ts';

export const JSON_CONTENT_TYPE = /^\s*application\/json\s*(;|$)/i;
const MODERN = new Set<string>(PROTOCOL_VERSIONS_2026);

export interface BodyOptions {
  /** The protected server's id (config serverId). */
  readonly serverId: string;
  readonly maxBodyBytes: number;
  readonly jsonLimits: JsonLimits;
  readonly batchMode: 'per-element' | 'reject';
  readonly batchMaxElements: number;
}

/** Facts shared by every message of the request. */
export function requestMeta(
  req: IncomingMessage,
  serverId: string,
  path: string,
  transport: Transport,
  sessionId: string | undefined,
  t0: number,
): RequestMeta {
  const tp = req.headers.traceparent;
  return {
    requestId: randomUUID(),
    serverId,
    httpMethod: req.method ?? 'POST',
    path,
    clientAddress: req.socket.remoteAddress,
    userAgent: req.headers['user-agent'],
    sessionId,
    transport,
    nowMs: Date.now(),
    t0,
    traceparent: typeof tp === 'string' ? tp : undefined,
  };
}

/** An Intake refused as a whole before any message was read. */
export function refusedIntake(
  req: IncomingMessage,
  res: ServerResponse,
  meta: RequestMeta,
  label: string,
  failure: SarkError,
  messages: readonly IntakeMessage[] = [],
): Intake {
  return {
    transport: meta.transport,
    meta,
    headers: req.headersDistinct as HeaderLookup,
    req,
    res,
    messages,
    batch: false,
    failure,
    label,
  };
}

/** GET and DELETE carry no JSON-RPC message; the policy sees them as these actions. */
export function httpPseudoMessage(
  action: string,
  headers: HeaderLookup,
  era: McpMessage['era'] | undefined,
): McpMessage {
  return {
    kind: 'notification',
    id: null,
    method: undefined,
    action,
    era: era ?? (headers['mcp-session-id'] ? '2025-session' : '2025-stateless'),
    protocolVersion: headers['mcp-protocol-version']?.[0],
    name: undefined,
    arguments: undefined,
    paramHeaders: [],
    clientInfo: undefined,
    clientCapabilities: undefined,
    message: { jsonrpc: '2.0', method: '' },
  };
}

export function pseudoIntakeMessage(label: string, msg: McpMessage): IntakeMessage {
  return { label, msg, error: undefined, id: null };
}

/** The label of a request refused before its body was read, by HTTP method. */
export function httpLabel(method: string | undefined): string {
  switch (method) {
    case 'POST':
      return 'http:post';
    case 'GET':
      return 'http:get';
    case 'DELETE':
      return 'http:delete';
    default:
      return 'http:other';
  }
}

/** Reads, decodes and parses a JSON-RPC body; throws a SarkError for the whole request. */
export async function readMessages(req: IncomingMessage, o: BodyOptions): Promise<JsonRpcMessage | JsonRpcMessage[]> {
  const contentType = req.headers['content-type'];
  if (contentType === undefined || !JSON_CONTENT_TYPE.test(contentType)) {
    req.resume();
    throw new SarkError('SARK_UNSUPPORTED_MEDIA_TYPE', { publicDetail: `got ${contentType ?? 'no content type'}` });
  }
  const raw = await readBody(req, o.maxBodyBytes);
  const body = await decodeBody(raw, req.headers['content-encoding'], o.maxBodyBytes);
  return parseBody(body, o.jsonLimits);
}

/** Classifies one parsed message; a failure refuses that message only. */
export function classifyOne(
  m: JsonRpcMessage,
  headers: HeaderLookup,
  transport: 'streamable-http' | 'legacy-sse',
): IntakeMessage {
  const label = methodLabel(m);
  const id = 'id' in m ? (m.id ?? null) : null;
  try {
    return { label, msg: classify(m, headers, transport), error: undefined, id };
  } catch (err) {
    const error = err instanceof SarkError ? err : new SarkError('SARK_INVALID_REQUEST', { cause: err });
    return { label, msg: undefined, error, id };
  }
}

/** Checks a batch as a whole. Throws a SarkError for the whole request. */
export function checkBatch(batch: readonly JsonRpcMessage[], headers: HeaderLookup, o: BodyOptions): void {
  if (o.batchMode === 'reject') throw new SarkError('SARK_BATCH_REJECTED');
  if (batch.length > o.batchMaxElements) {
    throw new SarkError('SARK_LIMIT_EXCEEDED', {
      publicDetail: `a batch may carry at most ${o.batchMaxElements} messages (batchMaxElements)`,
    });
  }
  // MCP 2026-07-28 (Transports): batches may not carry requests of that revision.
  if (MODERN.has(headers['mcp-protocol-version']?.[0] ?? '') || batch.some(isModernEnvelope)) {
    throw new SarkError('SARK_INVALID_REQUEST', {
      publicDetail: 'JSON-RPC batches may not contain requests for protocol revision 2026-07-28 or later',
    });
  }
  const ids = new Set<unknown>();
  for (const m of batch) {
    if (!('method' in m) || !('id' in m)) continue;
    if (ids.has(m.id)) {
      throw new SarkError('SARK_INVALID_REQUEST', {
        publicDetail: `the batch repeats the request id ${JSON.stringify(m.id)}; each request needs its own id`,
      });
    }
    ids.add(m.id);
  }
}

function isModernEnvelope(m: JsonRpcMessage): boolean {
  const meta = ('params' in m ? m.params : undefined)?._meta as Record<string, unknown> | undefined;
  const v = meta?.['io.modelcontextprotocol/protocolVersion'];
  return typeof v === 'string' && MODERN.has(v);
}

const HTTP_ACTIONS: Readonly<Record<string, string>> = {
  GET: 'gateway:stream:listen',
  DELETE: 'gateway:session:end',
};

export class StreamableHttpAdapter {
  readonly #o: BodyOptions;

  constructor(options: BodyOptions) {
    if (!Number.isInteger(options.batchMaxElements) || options.batchMaxElements < 1) {
      throw new TypeError('batchMaxElements must be a positive integer');
    }
    this.#o = options;
  }

  async intake(req: IncomingMessage, res: ServerResponse, path: string, t0: number): Promise<Intake> {
    const headers = req.headersDistinct as HeaderLookup;
    const session = headers['mcp-session-id'];
    const meta = requestMeta(
      req,
      this.#o.serverId,
      path,
      'streamable-http',
      session?.length === 1 ? session[0] : undefined,
      t0,
    );
    const method = req.method;
    if (method === 'GET' || method === 'DELETE') {
      req.resume();
      const label = httpLabel(method);
      if (session !== undefined && session.length !== 1) {
        return refusedIntake(
          req,
          res,
          meta,
          label,
          new SarkError('SARK_HEADER_MISMATCH', { publicDetail: 'the mcp-session-id header is repeated' }),
        );
      }
      const msg = pseudoIntakeMessage(label, httpPseudoMessage(HTTP_ACTIONS[method]!, headers, undefined));
      return {
        transport: 'streamable-http',
        meta,
        headers,
        req,
        res,
        messages: [msg],
        batch: false,
        failure: undefined,
        label,
      };
    }
    if (method !== 'POST') {
      req.resume();
      return refusedIntake(req, res, meta, 'http:other', new SarkError('SARK_METHOD_NOT_ALLOWED'));
    }
    let parsed: JsonRpcMessage | JsonRpcMessage[];
    try {
      if (session !== undefined && session.length !== 1) {
        req.resume();
        throw new SarkError('SARK_HEADER_MISMATCH', { publicDetail: 'the mcp-session-id header is repeated' });
      }
      parsed = await readMessages(req, this.#o);
      if (Array.isArray(parsed)) checkBatch(parsed, headers, this.#o);
    } catch (err) {
      const e =
        err instanceof SarkError ? err : new SarkError('SARK_INVALID_REQUEST', { detail: String(err), cause: err });
      return refusedIntake(req, res, meta, 'http:post', e);
    }
    const batch = Array.isArray(parsed);
    const list = batch ? (parsed as JsonRpcMessage[]) : [parsed as JsonRpcMessage];
    const messages: IntakeMessage[] = [];
    for (const m of list) messages.push(classifyOne(m, headers, 'streamable-http'));
    return {
      transport: 'streamable-http',
      meta,
      headers,
      req,
      res,
      messages,
      batch,
      failure: undefined,
      label: 'http:post',
    };
  }
}
