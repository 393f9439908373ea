/**
 * JSON-RPC 2.0 message parsing, strict enough that the message the policy sees
 * is the message the upstream receives: the sidecar re-serializes what it
 * parsed rather than forwarding the client's bytes.
 */
import { SarkError } from '../errors.ts';
import { DEFAULT_JSON_LIMITS, type JsonLimits, parseStrictJson, type StrictJsonError } from './strict-json.ts';

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** Parses a body into one message or a batch. Throws SARK_PARSE_ERROR / SARK_INVALID_REQUEST. */
export function parseBody(
  body: Buffer | string,
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): JsonRpcMessage | JsonRpcMessage[] {
  let value: unknown;
  try {
    value = parseStrictJson(body, limits);
  } catch (err) {
    const e = err as StrictJsonError;
    if (e.kind === 'syntax' || e.kind === 'encoding') {
      throw new SarkError('SARK_PARSE_ERROR', { detail: e.message, publicDetail: e.message });
    }
    throw new SarkError('SARK_INVALID_REQUEST', { detail: e.message, publicDetail: e.message });
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new SarkError('SARK_INVALID_REQUEST', { publicDetail: 'empty batch' });
    return value.map(checkMessage);
  }
  return checkMessage(value);
}

function checkMessage(value: unknown): JsonRpcMessage {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid('a JSON-RPC message must be an object');
  }
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') throw invalid('"jsonrpc" must be "2.0"');
  const hasId = 'id' in m;
  if (hasId && m.id !== null && typeof m.id !== 'string' && !(typeof m.id === 'number' && Number.isFinite(m.id))) {
    throw invalid('"id" must be a string or a number');
  }
  if ('method' in m) {
    if (typeof m.method !== 'string' || m.method.length === 0) throw invalid('"method" must be a non-empty string');
    if ('params' in m && (m.params === null || typeof m.params !== 'object' || Array.isArray(m.params))) {
      throw invalid('"params" must be an object');
    }
    if ('result' in m || 'error' in m) throw invalid('a request cannot carry "result" or "error"');
    // MCP (every revision): request ids MUST NOT be null.
    if (hasId && m.id === null) throw invalid('a request id must not be null');
    return m as unknown as JsonRpcRequest | JsonRpcNotification;
  }
  if (!hasId) throw invalid('a message needs "method" (request or notification) or "id" (response)');
  const hasResult = 'result' in m;
  const hasError = 'error' in m;
  if (hasResult === hasError) throw invalid('a response carries exactly one of "result" or "error"');
  if (hasError) {
    const e = m.error as Record<string, unknown> | null;
    if (e === null || typeof e !== 'object' || typeof e.code !== 'number' || typeof e.message !== 'string') {
      throw invalid('"error" must be an object with a numeric "code" and a string "message"');
    }
  }
  return m as unknown as JsonRpcResponse;
}

function invalid(why: string): SarkError {
  return new SarkError('SARK_INVALID_REQUEST', { publicDetail: why });
}

export function isRequest(m: JsonRpcMessage): m is JsonRpcRequest {
  return 'method' in m && 'id' in m;
}

export function isNotification(m: JsonRpcMessage): m is JsonRpcNotification {
  return 'method' in m && !('id' in m);
}

/** Serializes a JSON-RPC error response. `id` is null when the request's id is unknown. */
export function errorResponse(id: JsonRpcId | null, code: number, message: string, data?: unknown): string {
  return JSON.stringify(
    data === undefined
      ? { jsonrpc: '2.0', id, error: { code, message } }
      : { jsonrpc: '2.0', id, error: { code, message, data } },
  );
}
