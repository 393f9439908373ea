/**
 * The headers the upstream gets and the client gets back.
 *
 * Request: hop-by-hop fields (RFC 9110 §7.6.1) — the fixed list and every
 * field the client's `Connection` header names — are removed; SARK's own
 * credentials never reach the server (no token passthrough); fields that
 * describe the body (`Content-Encoding`, `Content-MD5`, `Digest`,
 * `Content-Digest`, `Repr-Digest`, a charset in `Content-Type`) are replaced
 * by what describes the body SARK actually sends: the re-serialized message,
 * UTF-8 JSON, identity-encoded, with its own `Content-Length`.
 * `Mcp-Param-*` headers are only ever the ones SARK derives from the
 * authorized body.
 */
import type { IncomingHttpHeaders } from 'node:http';

const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'content-md5',
  'digest',
  'content-digest',
  'repr-digest',
  'accept-encoding',
  // Credentials presented to SARK are SARK's, not the MCP server's.
  'authorization',
  'x-api-key',
]);

const DROP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'trailer',
  'upgrade',
  'proxy-connection',
]);

/** Field names listed in Connection headers (each a comma-separated token list). */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  // The usual values name only fields that are always dropped anyway.
  if (value === 'keep-alive' || value === 'close' || (value.length === 1 && value[0] === 'keep-alive'))
    return undefined;
  const out = new Set<string>();
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const t of v.split(',')) {
      const name = t.trim().toLowerCase();
      if (name) out.add(name);
    }
  }
  return out.size > 0 ? out : undefined;
}

/**
 * The upstream request's headers: the client's, minus what must not pass,
 * plus `extra` (a string sets, null removes), plus the body's own fields.
 */
export function upstreamRequestHeaders(
  raw: NodeJS.Dict<string[]>,
  extra: Readonly<Record<string, string | null>> | undefined,
  body: string | undefined,
): Record<string, string | string[]> {
  const named = connectionTokens(raw.connection);
  const headers: Record<string, string | string[]> = {};
  for (const name in raw) {
    if (DROP_REQUEST.has(name) || name.startsWith('mcp-param-') || named?.has(name)) continue;
    headers[name] = raw[name]!;
  }
  // Bodies must reach the policy decoded; asking for identity keeps response
  // filtering possible too. Loopback gains nothing from compression.
  headers['accept-encoding'] = 'identity';
  if (extra) {
    for (const name in extra) {
      const v = extra[name];
      if (v === null || v === undefined) delete headers[name];
      else headers[name] = v;
    }
  }
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return headers;
}

/** The client's copy of the upstream's response headers, without hop-by-hop fields. */
export function clientResponseHeaders(raw: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = connectionTokens(raw.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in raw) {
    if (DROP_RESPONSE.has(name) || named?.has(name)) continue;
    out[name] = raw[name]!;
  }
  return out;
}

const SSE = /^\s*text\/event-stream\s*(;|$)/i;
const JSON_TYPE = /^\s*application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/** Media type tests without regard to case (RFC 9110 §8.3.1: type and subtype are case-insensitive). */
export function isEventStream(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && SSE.test(contentType);
}

export function isJson(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && JSON_TYPE.test(contentType);
}

/** True when the body is sent as-is (no content coding, or identity). */
export function isIdentityEncoded(encoding: string | string[] | undefined): boolean {
  if (encoding === undefined) return true;
  if (Array.isArray(encoding)) return encoding.every((e) => isIdentityEncoded(e));
  const e = encoding.trim().toLowerCase();
  return e === '' || e === 'identity';
}
