/**
 * Small, pure helpers of the request lifecycle: metric labels, the pseudo
 * messages for GET/DELETE, the headers the upstream gets, JSON-RPC error
 * objects. No state, no I/O beyond writing a prepared answer.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestMeta } from '../decide/input.ts';
import type { SarkError } from '../errors.ts';
import {
  encodeParamHeader,
  type HeaderLookup,
  type McpMessage,
  PROTOCOL_VERSIONS_2026,
  paramHeaderValue,
} from '../mcp/classify.ts';
import { errorResponse, type JsonRpcId, type JsonRpcMessage } from '../mcp/jsonrpc.ts';

export const JSON_CONTENT_TYPE = /^application\/json\s*(;|$)/i;
export const MODERN = new Set<string>(PROTOCOL_VERSIONS_2026);

export function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function requestMeta(req: IncomingMessage, path: string): RequestMeta {
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

/**
 * Headers the upstream sees are derived from the authorized body: for a
 * 2026-07-28 message, Mcp-Method, Mcp-Name and MCP-Protocol-Version are set
 * from it (classify has checked the client's agreed); for earlier eras the
 * routing headers are removed, so nothing behind SARK can route on a value the
 * policy did not see.
 */
export function upstreamHeaders(msg: McpMessage, forwarded: JsonRpcMessage): Record<string, string | null> {
  if (msg.era !== '2026' || msg.kind === 'response') return { 'mcp-method': null, 'mcp-name': null };
  const headers: Record<string, string | null> = {
    'mcp-method': msg.method ?? null,
    'mcp-name': msg.name ?? null,
    'mcp-protocol-version': msg.protocolVersion ?? null,
  };
  // Mcp-Param-* (SEP-2243): re-derived from the arguments as forwarded, after obligations.
  const args = ('params' in forwarded ? forwarded.params?.arguments : undefined) as Record<string, unknown> | undefined;
  for (const key of msg.paramHeaders) {
    const value = paramHeaderValue(args?.[key]);
    if (value !== undefined) headers[`mcp-param-${key.toLowerCase()}`] = encodeParamHeader(value);
  }
  return headers;
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

/** A request asking the server to run it as a task (`params.task`, MCP tasks). */
export function isTaskAugmented(m: JsonRpcMessage): boolean {
  const task = ('params' in m ? m.params : undefined)?.task;
  return task !== null && typeof task === 'object';
}

export function isModernEnvelope(m: JsonRpcMessage): boolean {
  const meta = ('params' in m ? m.params : undefined)?._meta as Record<string, unknown> | undefined;
  const v = meta?.['io.modelcontextprotocol/protocolVersion'];
  return typeof v === 'string' && MODERN.has(v);
}

export function errorObject(id: JsonRpcId | null, err: SarkError, data: unknown): unknown {
  return JSON.parse(errorResponse(id, err.kind.rpcCode, err.safeMessage, data));
}

/** The bounded `method` metric label (one list, in observe/labels.ts). */
export { methodLabel } from '../observe/labels.ts';

export function denyText(reasons: readonly { code: string; message?: string }[]): string | undefined {
  const first = reasons[0];
  if (!first) return undefined;
  return first.message ? `${first.message} (${first.code})` : first.code;
}
