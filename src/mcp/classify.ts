/**
 * Classification: one parsed JSON-RPC message plus its HTTP headers become one
 * McpMessage, whatever the protocol era. The policy sees only this model, so
 * one policy governs 2025 sessions, 2025 stateless calls and 2026-07-28
 * envelopes alike.
 *
 * Eras (MCP spec, "Transports" and "Versioning"):
 * - 2026: revision 2026-07-28 and later. No session; every POST carries
 *   MCP-Protocol-Version and Mcp-Method (and Mcp-Name for named targets), and
 *   `params._meta` repeats the version. Headers must agree with the body.
 * - 2025: revisions 2024-11-05 … 2025-11-25 over Streamable HTTP, with or
 *   without mcp-session-id (v2 servers answer session-less 2025 calls too).
 */
import { SarkError } from '../errors.ts';
import type { JsonRpcId, JsonRpcMessage, JsonRpcRequest } from './jsonrpc.ts';

export const PROTOCOL_VERSIONS_2025 = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'] as const;
export const PROTOCOL_VERSIONS_2026 = ['2026-07-28'] as const;
const KNOWN_VERSIONS = new Set<string>([...PROTOCOL_VERSIONS_2025, ...PROTOCOL_VERSIONS_2026]);
const MODERN_VERSIONS = new Set<string>(PROTOCOL_VERSIONS_2026);
const LATEST_2025 = PROTOCOL_VERSIONS_2025[PROTOCOL_VERSIONS_2025.length - 1]!;

export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';

/** `a2a`: an agent-to-agent request asked about through the decision API (no MCP era). */
export type Era = '2026' | '2025-session' | '2025-stateless' | 'legacy-sse' | 'a2a';
export type MessageKind = 'request' | 'notification' | 'response';

export interface McpMessage {
  readonly kind: MessageKind;
  readonly id: JsonRpcId | null;
  /** The JSON-RPC method; undefined for responses. */
  readonly method: string | undefined;
  /** The policy action, e.g. gateway:tool:invoke. */
  readonly action: string;
  readonly era: Era;
  readonly protocolVersion: string | undefined;
  /** Tool or prompt name, resource URI or task id the message targets (for completion/complete: its reference). */
  readonly name: string | undefined;
  /** completion/complete only: whether `name` is a prompt (`ref/prompt`) or a resource template (`ref/resource`). */
  readonly ref?: 'ref/prompt' | 'ref/resource' | undefined;
  readonly arguments: Record<string, unknown> | undefined;
  /** Top-level argument names whose Mcp-Param-* headers the client sent and SARK verified (2026-07-28). */
  readonly paramHeaders: readonly string[];
  /** Unverified, client-supplied claims (2026 `_meta` or 2025 initialize params). */
  readonly clientInfo: unknown;
  readonly clientCapabilities: unknown;
  readonly message: JsonRpcMessage;
}

/** Method → policy action. Methods not listed map to `gateway:method:other`. */
const ACTIONS: Readonly<Record<string, string>> = {
  'tools/call': 'gateway:tool:invoke',
  'tools/list': 'gateway:tools:list',
  'resources/read': 'gateway:resource:read',
  'resources/list': 'gateway:resources:list',
  'resources/templates/list': 'gateway:resources:list',
  'resources/subscribe': 'gateway:resource:subscribe',
  'resources/unsubscribe': 'gateway:resource:subscribe',
  'subscriptions/listen': 'gateway:subscriptions:listen',
  'prompts/get': 'gateway:prompt:get',
  'prompts/list': 'gateway:prompts:list',
  'completion/complete': 'gateway:completion:complete',
  initialize: 'gateway:server:connect',
  'server/discover': 'gateway:server:connect',
  ping: 'gateway:server:ping',
  'logging/setLevel': 'gateway:logging:set',
  'tasks/get': 'gateway:task:read',
  'tasks/result': 'gateway:task:read',
  'tasks/list': 'gateway:task:read',
  'tasks/cancel': 'gateway:task:cancel',
};

/**
 * The params field naming each method's target, which `Mcp-Name` mirrors
 * (2026-07-28, "Streamable HTTP" request headers).
 */
export const NAME_FIELD: Readonly<Record<string, string>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'resources/subscribe': 'uri',
  'resources/unsubscribe': 'uri',
  'tasks/get': 'taskId',
  'tasks/result': 'taskId',
  'tasks/cancel': 'taskId',
};

export function actionOf(method: string | undefined, kind: MessageKind): string {
  if (kind === 'response') return 'gateway:response';
  if (method === undefined) return 'gateway:method:other';
  const known = ACTIONS[method];
  if (known) return known;
  if (kind === 'notification') return 'gateway:notification';
  return 'gateway:method:other';
}

export type HeaderLookup = Readonly<Record<string, string[] | undefined>>;

function single(headers: HeaderLookup, name: string): string | undefined {
  const values = headers[name];
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) {
    throw new SarkError('SARK_HEADER_MISMATCH', { publicDetail: `the ${name} header is repeated` });
  }
  return values[0];
}

/**
 * Classifies one message. Throws SARK_HEADER_MISMATCH when headers and body
 * disagree and SARK_UNSUPPORTED_PROTOCOL_VERSION for a version SARK does not
 * implement: an unknown version is never forwarded unexamined. `transport`
 * is "legacy-sse" for messages POSTed on the 2024-11-05 HTTP+SSE transport.
 */
export function classify(
  original: JsonRpcMessage,
  headers: HeaderLookup,
  transport: 'streamable-http' | 'legacy-sse' = 'streamable-http',
): McpMessage {
  let message = original;
  const kind: MessageKind = 'method' in message ? ('id' in message ? 'request' : 'notification') : 'response';
  const method = 'method' in message ? message.method : undefined;
  const params = 'params' in message && message.params ? message.params : undefined;
  const meta =
    params?._meta !== null && typeof params?._meta === 'object' ? (params._meta as Record<string, unknown>) : undefined;

  const headerVersion = single(headers, 'mcp-protocol-version');
  const metaVersion = meta?.[META_PROTOCOL_VERSION];
  for (const v of [headerVersion, metaVersion]) {
    if (v !== undefined && (typeof v !== 'string' || !KNOWN_VERSIONS.has(v))) throw unsupported(v);
  }
  let initVersion =
    method === 'initialize' && typeof params?.protocolVersion === 'string' ? params.protocolVersion : undefined;
  if (initVersion !== undefined && !KNOWN_VERSIONS.has(initVersion)) {
    // MCP 2025 lifecycle: initialize is a negotiation, and a server that does
    // not support the offered version answers with one it does. A later offer
    // is rewritten to SARK's newest 2025 version, so that the server
    // negotiates within what SARK enforces; a string that is not a version is
    // refused.
    if (!/^\d{4}-\d{2}-\d{2}$/.test(initVersion) || initVersion < LATEST_2025) throw unsupported(initVersion);
    initVersion = LATEST_2025;
    message = { ...(original as JsonRpcRequest), params: { ...params, protocolVersion: LATEST_2025 } };
  }

  const modern =
    (headerVersion !== undefined && MODERN_VERSIONS.has(headerVersion)) ||
    (typeof metaVersion === 'string' && MODERN_VERSIONS.has(metaVersion));
  let era: Era;
  let protocolVersion: string | undefined;
  let clientInfo: unknown;
  let clientCapabilities: unknown;
  let paramHeaders: readonly string[] = [];
  let name = method && NAME_FIELD[method] ? stringField(params, NAME_FIELD[method]!) : undefined;
  let ref: McpMessage['ref'];
  if (method === 'completion/complete') {
    const r = params?.ref as Record<string, unknown> | undefined;
    if (r?.type === 'ref/prompt' && typeof r.name === 'string') {
      ref = 'ref/prompt';
      name = r.name;
    } else if (r?.type === 'ref/resource' && typeof r.uri === 'string') {
      ref = 'ref/resource';
      name = r.uri;
    } else {
      // A completion that names nothing SARK can judge is not forwarded.
      throw new SarkError('SARK_INVALID_REQUEST', {
        publicDetail: 'completion/complete needs params.ref of type ref/prompt (name) or ref/resource (uri)',
      });
    }
  }
  const args = method === 'tools/call' || method === 'prompts/get' ? objectField(params, 'arguments') : undefined;

  if (modern) {
    if (transport === 'legacy-sse') throw unsupported(headerVersion ?? metaVersion);
    era = '2026';
    protocolVersion = (metaVersion as string | undefined) ?? headerVersion;
    if (kind !== 'response') checkModernHeaders(headers, headerVersion, metaVersion, method!, name);
    if (method === 'tools/call') paramHeaders = checkParamHeaders(headers, args);
    clientInfo = meta?.[META_CLIENT_INFO];
    clientCapabilities = meta?.[META_CLIENT_CAPABILITIES];
  } else {
    era =
      transport === 'legacy-sse'
        ? 'legacy-sse'
        : single(headers, 'mcp-session-id') === undefined
          ? '2025-stateless'
          : '2025-session';
    protocolVersion = initVersion ?? headerVersion;
    if (method === 'initialize') {
      clientInfo = params?.clientInfo;
      clientCapabilities = params?.capabilities;
    }
  }

  return {
    kind,
    id: 'id' in message ? (message.id ?? null) : null,
    method,
    action: actionOf(method, kind),
    era,
    protocolVersion,
    name,
    ref,
    arguments: args,
    paramHeaders,
    clientInfo,
    clientCapabilities,
    message,
  };
}

function unsupported(v: unknown): SarkError {
  return new SarkError('SARK_UNSUPPORTED_PROTOCOL_VERSION', {
    publicDetail: `${JSON.stringify(v)} is not a supported MCP protocol version (supported: ${[...KNOWN_VERSIONS].join(', ')})`,
    data: { supported: [...KNOWN_VERSIONS], requested: v },
  });
}

const PARAM_HEADER = 'mcp-param-';
const BASE64_SENTINEL = /^=\?base64\?(.*)\?=$/;

/** SEP-2243 value encoding: strings as-is, numbers in decimal, booleans in lower case. */
export function paramHeaderValue(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' && Number.isFinite(v) && (!Number.isInteger(v) || Number.isSafeInteger(v)))
    return String(v);
  return undefined;
}

/** Encodes a header value, base64 in the sentinel when it is not plain visible ASCII. */
export function encodeParamHeader(value: string): string {
  const plain =
    value.length > 0 && value === value.trim() && /^[\t\x20-\x7e]*$/.test(value) && !BASE64_SENTINEL.test(value);
  return plain ? value : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/**
 * `Mcp-Param-{Name}` headers (SEP-2243) mirror tool arguments for routing.
 * A header naming a top-level argument must carry its value (else
 * SARK_HEADER_MISMATCH); the names of those verified are returned, and the
 * forward stage re-derives them from the authorized arguments. Headers SARK
 * cannot check against the body (nested paths) are never forwarded.
 */
function checkParamHeaders(headers: HeaderLookup, args: Record<string, unknown> | undefined): string[] {
  const verified: string[] = [];
  for (const header in headers) {
    if (!header.startsWith(PARAM_HEADER)) continue;
    const raw = single(headers, header)!;
    const b64 = BASE64_SENTINEL.exec(raw);
    const value = b64 ? Buffer.from(b64[1]!, 'base64').toString('utf8') : raw;
    const wanted = header.slice(PARAM_HEADER.length);
    const key = args ? Object.keys(args).find((k) => k.toLowerCase() === wanted) : undefined;
    if (key === undefined) continue;
    if (paramHeaderValue(args![key]) !== value) {
      throw mismatch(`the ${header} header does not carry the value of argument ${JSON.stringify(key)}`);
    }
    verified.push(key);
  }
  return verified;
}

function checkModernHeaders(
  headers: HeaderLookup,
  headerVersion: string | undefined,
  metaVersion: unknown,
  method: string,
  name: string | undefined,
): void {
  if (headerVersion === undefined) {
    throw mismatch(
      `the body envelope names protocol version ${String(metaVersion)} but the MCP-Protocol-Version header is absent`,
    );
  }
  if (metaVersion !== undefined && metaVersion !== headerVersion) {
    throw mismatch(
      `the body envelope names protocol version ${String(metaVersion)} but the MCP-Protocol-Version header names ${headerVersion}`,
    );
  }
  const headerMethod = single(headers, 'mcp-method');
  if (headerMethod === undefined) throw mismatch('the Mcp-Method header is required');
  if (headerMethod !== method) {
    throw mismatch(`the body names method ${method} but the Mcp-Method header names ${headerMethod}`);
  }
  const headerName = single(headers, 'mcp-name');
  if (NAME_FIELD[method] !== undefined) {
    if (headerName === undefined) throw mismatch(`the Mcp-Name header is required for ${method}`);
    if (headerName !== name)
      throw mismatch(
        `the body names ${JSON.stringify(name)} but the Mcp-Name header names ${JSON.stringify(headerName)}`,
      );
  } else if (headerName !== undefined) {
    throw mismatch(`the Mcp-Name header is not defined for ${method}`);
  }
}

function mismatch(why: string): SarkError {
  return new SarkError('SARK_HEADER_MISMATCH', { publicDetail: why });
}

function stringField(obj: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = obj?.[key];
  return typeof v === 'string' ? v : undefined;
}

function objectField(obj: Record<string, unknown> | undefined, key: string): Record<string, unknown> | undefined {
  const v = obj?.[key];
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
