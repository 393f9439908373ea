/**
 * The decision API adapter, on its own listener (`apiListen`): an
 * enforcement point that is not SARK — a gateway, another agent's runtime —
 * asks whether an MCP call may be made, and SARK answers with the decision
 * and what must be applied, without forwarding anything. Each endpoint turns
 * its request into the one message model and hands it to the same stages as
 * the MCP listener (identity → decide → obligations → forward → record), so
 * the decision, the cache, the metrics and the audit row are those of the
 * same call made through the MCP listener; the decision port
 * (src/pipeline/decision-port.ts) writes the answer.
 *
 *   POST /api/v1/gateway/authorize     one MCP call
 *   POST /access/v1/evaluation         OpenID AuthZEN 1.0 (MCP profile)
 *   POST /access/v1/evaluations        AuthZEN, several at once
 *   GET  /api/v1/gateway/servers       the servers the caller may see
 *   GET  /api/v1/gateway/tools?server= the tools the caller may call there
 *   GET  /api/v1/gateway/audit?…       recent audit rows (policy action gateway:audit:read)
 *   GET  /api/v1/openapi.json          this API, OpenAPI 3.1
 *
 * The caller is the subject: it asks about its own calls with its own
 * credentials (an AuthZEN subject naming anyone else is refused).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { SarkError } from '../errors.ts';
import { type HeaderLookup, type McpMessage, NAME_FIELD } from '../mcp/classify.ts';
import type { JsonRpcRequest } from '../mcp/jsonrpc.ts';
import { type JsonLimits, parseStrictJson, type StrictJsonError } from '../mcp/strict-json.ts';
import { readBody } from './body.ts';
import {
  type AuthorizeRequest,
  auditQuery,
  authorizeRequest,
  type EvaluationRequest,
  evaluationRequest,
  evaluationsRequest,
  toolsQuery,
} from './decision-api-schemas.ts';
import type { Intake, IntakeMessage } from './intake.ts';
import type { Flow } from './router.ts';
import { classifyOne, pseudoIntakeMessage, requestMeta } from './streamable-http.ts';

export type DecisionEndpoint =
  | 'authorize'
  | 'authorize-a2a'
  | 'evaluation'
  | 'evaluations'
  | 'servers'
  | 'tools'
  | 'audit';

/** What the decision port needs to answer: which endpoint, and its query. */
export interface DecisionContext {
  readonly endpoint: DecisionEndpoint;
  readonly audit?: z.infer<typeof auditQuery>;
}

export interface DecisionApiOptions {
  readonly serverId: string;
  readonly maxBodyBytes: number;
  readonly jsonLimits: JsonLimits;
  /** Where each Intake goes: the pipeline's stages. */
  readonly flow: Flow;
  /** The OpenAPI document served at /api/v1/openapi.json (built by the pipeline from the schemas). */
  readonly openapi: string;
}

const ROUTES: Readonly<Record<string, { method: string; endpoint: DecisionEndpoint }>> = {
  '/api/v1/gateway/authorize': { method: 'POST', endpoint: 'authorize' },
  '/api/v1/gateway/authorize-a2a': { method: 'POST', endpoint: 'authorize-a2a' },
  '/access/v1/evaluation': { method: 'POST', endpoint: 'evaluation' },
  '/access/v1/evaluations': { method: 'POST', endpoint: 'evaluations' },
  '/api/v1/gateway/servers': { method: 'GET', endpoint: 'servers' },
  '/api/v1/gateway/tools': { method: 'GET', endpoint: 'tools' },
  '/api/v1/gateway/audit': { method: 'GET', endpoint: 'audit' },
};

/** AuthZEN MCP profile: resource type → the MCP method a call on it is, and the params field naming it. */
const RESOURCE_TYPES: Readonly<Record<string, { method: string; field: string } | undefined>> = {
  mcp_tool: { method: 'tools/call', field: 'name' },
  mcp_prompt: { method: 'prompts/get', field: 'name' },
  mcp_resource: { method: 'resources/read', field: 'uri' },
  mcp_server: undefined,
};

export class DecisionApiAdapter {
  readonly #o: DecisionApiOptions;
  readonly #openapi: string;

  constructor(options: DecisionApiOptions) {
    this.#o = options;
    this.#openapi = options.openapi;
    this.handle = this.handle.bind(this);
  }

  /** The decision API listener's request handler; never rejects. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    void this.#serve(req, res);
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const intake = await this.intake(req, res);
      if (intake !== undefined) await this.#o.flow(intake);
    } catch {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json', connection: 'close' });
      res.end('{"error":{"code":"SARK_INTERNAL","message":"Internal error"}}');
    }
  }

  /** Serves the OpenAPI document itself; everything else becomes an Intake. */
  async intake(req: IncomingMessage, res: ServerResponse): Promise<Intake | undefined> {
    const t0 = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    if (path === '/api/v1/openapi.json' && req.method === 'GET') {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(this.#openapi) });
      res.end(this.#openapi);
      return undefined;
    }
    const route = ROUTES[path];
    const endpoint = route?.endpoint ?? 'authorize';
    let serverId = this.#o.serverId;
    const label = `api:${endpoint}`;
    const base = (messages: IntakeMessage[], batch: boolean, extra: Partial<Intake> = {}): Intake => ({
      transport: 'decision-api',
      meta: requestMeta(req, serverId, path, 'decision-api', undefined, t0),
      headers: req.headersDistinct as HeaderLookup,
      req,
      res,
      messages,
      batch,
      failure: undefined,
      label,
      context: { endpoint } satisfies DecisionContext,
      ...extra,
    });
    try {
      if (!route) {
        req.resume();
        throw new SarkError('SARK_NOT_FOUND', { publicDetail: `${path} is not an endpoint of the decision API` });
      }
      if (req.method !== route.method) {
        req.resume();
        throw new SarkError('SARK_METHOD_NOT_ALLOWED', { publicDetail: `use ${route.method}` });
      }
      switch (endpoint) {
        case 'authorize': {
          const body = parse(authorizeRequest, await this.#json(req), '');
          serverId = body.server ?? serverId;
          return base([authorizeMessage(body, 0)], false);
        }
        case 'authorize-a2a': {
          // Validated by the decide stage, which owns the A2A request model (decide/a2a-input.ts).
          const body = await this.#json(req);
          return base([a2aMessage(label, body)], false);
        }
        case 'evaluation': {
          const body = parse(evaluationRequest, await this.#json(req), '');
          const m = evaluationMessage(body, 0);
          serverId = m.server ?? serverId;
          return base([m.message], false, { subject: body.subject?.id });
        }
        case 'evaluations': {
          const body = parse(evaluationsRequest, await this.#json(req), '');
          const merged = body.evaluations.map((e, i) => {
            const one = {
              subject: e.subject ?? body.subject,
              action: e.action ?? body.action,
              resource: e.resource ?? body.resource,
              context: e.context ?? body.context,
            };
            if (!one.action) throw badField(`evaluations.${i}.action`, 'required (here or at the top level)');
            if (!one.resource) throw badField(`evaluations.${i}.resource`, 'required (here or at the top level)');
            return one as EvaluationRequest;
          });
          // One request, one server: the policy input names one server per request.
          const servers = new Set(merged.map((e) => evaluationMessage(e, 0).server ?? serverId));
          if (servers.size > 1)
            throw badField('evaluations', 'all evaluations of one request must name the same server');
          const subjects = new Set(merged.map((e) => e.subject?.id));
          if (subjects.size > 1)
            throw badField('evaluations', 'all evaluations of one request must name the same subject');
          serverId = [...servers][0] ?? serverId;
          return base(
            merged.map((e, i) => evaluationMessage(e, i).message),
            true,
            { subject: [...subjects][0] },
          );
        }
        case 'servers':
          req.resume();
          parse(toolsQuery.pick({}), Object.fromEntries(query), '');
          return base([pseudoIntakeMessage(label, listMessage('gateway:server:list', undefined))], false);
        case 'tools': {
          req.resume();
          const { server } = parse(toolsQuery, Object.fromEntries(query), '');
          serverId = server ?? serverId;
          return base([classifyOne({ jsonrpc: '2.0', id: 0, method: 'tools/list' }, {}, 'streamable-http')], false);
        }
        case 'audit': {
          req.resume();
          const audit = parse(auditQuery, Object.fromEntries(query), '');
          return base([pseudoIntakeMessage(label, listMessage('gateway:audit:read', undefined))], false, {
            context: { endpoint, audit } satisfies DecisionContext,
          });
        }
      }
    } catch (err) {
      const failure = err instanceof SarkError ? err : new SarkError('SARK_INVALID_REQUEST', { cause: err });
      return base([], false, { failure });
    }
  }

  async #json(req: IncomingMessage): Promise<unknown> {
    const type = req.headers['content-type'];
    if (type === undefined || !/^\s*application\/json\s*(;|$)/i.test(type)) {
      req.resume();
      throw new SarkError('SARK_UNSUPPORTED_MEDIA_TYPE', { publicDetail: `got ${type ?? 'no content type'}` });
    }
    const raw = await readBody(req, this.#o.maxBodyBytes);
    try {
      return parseStrictJson(raw, this.#o.jsonLimits);
    } catch (err) {
      const e = err as StrictJsonError;
      throw new SarkError(e.kind === 'syntax' || e.kind === 'encoding' ? 'SARK_PARSE_ERROR' : 'SARK_INVALID_REQUEST', {
        publicDetail: e.message,
      });
    }
  }
}

/** Validates with zod; the first issue names the field. */
function parse<T extends z.ZodType>(schema: T, value: unknown, prefix: string): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  throw badField(field || '(body)', issue.message);
}

function badField(field: string, why: string): SarkError {
  return new SarkError('SARK_INVALID_REQUEST', { publicDetail: `${field}: ${why}`, data: { field } });
}

/** The MCP call an authorize request describes, classified as the MCP listener would. */
function authorizeMessage(body: AuthorizeRequest, id: number): IntakeMessage {
  let params = body.params;
  if (params === undefined) {
    params = {};
    const field = NAME_FIELD[body.method];
    const target = body.method === 'tools/call' ? (body.tool ?? body.name) : body.name;
    if (field !== undefined) {
      if (target === undefined)
        throw badField(body.method === 'tools/call' ? 'tool' : 'name', `required for ${body.method}`);
      params[field] = target;
    }
    if (body.arguments !== undefined) params.arguments = body.arguments;
  }
  return synthesize(body.method, params, body.protocol_version, id);
}

function evaluationMessage(e: EvaluationRequest, id: number): { message: IntakeMessage; server: string | undefined } {
  const type = e.resource.type;
  if (!(type in RESOURCE_TYPES)) {
    throw badField('resource.type', 'expected mcp_tool, mcp_prompt, mcp_resource or mcp_server');
  }
  const props = e.resource.properties ?? {};
  const on = RESOURCE_TYPES[type];
  const method = e.action.name;
  if (on !== undefined && method !== on.method) {
    throw badField('action.name', `a ${type} is used by ${on.method}`);
  }
  const params: Record<string, unknown> = {};
  if (on !== undefined) params[on.field] = e.resource.id;
  if (props.arguments !== undefined) {
    if (props.arguments === null || typeof props.arguments !== 'object' || Array.isArray(props.arguments)) {
      throw badField('resource.properties.arguments', 'expected an object');
    }
    params.arguments = props.arguments;
  }
  const server = type === 'mcp_server' ? e.resource.id : typeof props.server === 'string' ? props.server : undefined;
  if (server !== undefined && !/^[A-Za-z0-9._:-]{1,1024}$/.test(server)) {
    throw badField('resource.properties.server', 'expected letters, digits, . _ : -');
  }
  const version = typeof e.context?.protocol_version === 'string' ? e.context.protocol_version : '2025-11-25';
  return { message: synthesize(method, params, version, id), server };
}

/** A JSON-RPC request with the headers a client of that era would send, classified. */
function synthesize(method: string, params: Record<string, unknown>, version: string, id: number): IntakeMessage {
  const headers: Record<string, string[]> = {};
  let p = params;
  if (version >= '2026-07-28') {
    headers['mcp-protocol-version'] = [version];
    headers['mcp-method'] = [method];
    const field = NAME_FIELD[method];
    if (field !== undefined && typeof params[field] === 'string') headers['mcp-name'] = [params[field] as string];
    p = { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': version } };
  }
  const m: JsonRpcRequest = { jsonrpc: '2.0', id, method, params: p };
  const out = classifyOne(m, headers, 'streamable-http');
  if (out.error) throw out.error;
  return out;
}

/** An A2A request as the one message model: the action a2a:call, the operation as its method, the body as payload. */
function a2aMessage(label: string, body: unknown): IntakeMessage {
  const b = body as { operation?: unknown; target?: { id?: unknown } } | null;
  const msg: McpMessage = {
    ...listMessage('a2a:call', typeof b?.target?.id === 'string' ? b.target.id : undefined),
    method: typeof b?.operation === 'string' ? b.operation.slice(0, 128) : undefined,
    era: 'a2a',
  };
  return { label, msg, error: undefined, id: null, payload: body };
}

/** An action that is no MCP message (listing servers, reading the audit), for the policy. */
function listMessage(action: string, name: string | undefined): McpMessage {
  return {
    kind: 'request',
    id: 0,
    method: undefined,
    action,
    era: '2025-stateless',
    protocolVersion: undefined,
    name,
    arguments: undefined,
    paramHeaders: [],
    clientInfo: undefined,
    clientCapabilities: undefined,
    message: { jsonrpc: '2.0', id: 0, method: action },
  };
}
