/**
 * The MCP routing headers the upstream sees are derived from the authorized
 * body: for a 2026-07-28 message, Mcp-Method, Mcp-Name and
 * MCP-Protocol-Version are set from it (classify has checked that the
 * client's agreed); for earlier eras the routing headers are removed, so
 * nothing behind SARK can route on a value the policy did not see. A batch
 * names no single method or target: the headers are removed.
 */
import { encodeParamHeader, type McpMessage, paramHeaderValue } from '../mcp/classify.ts';
import type { JsonRpcMessage } from '../mcp/jsonrpc.ts';

export const NO_ROUTING_HEADERS: Readonly<Record<string, null>> = Object.freeze({
  'mcp-method': null,
  'mcp-name': null,
});

export function routingHeaders(msg: McpMessage, forwarded: JsonRpcMessage): Readonly<Record<string, string | null>> {
  if (msg.era !== '2026' || msg.kind === 'response') return NO_ROUTING_HEADERS;
  const headers: Record<string, string | null> = {
    'mcp-method': msg.method ?? null,
    'mcp-name': msg.name !== undefined && msg.ref === undefined ? msg.name : null,
    'mcp-protocol-version': msg.protocolVersion ?? null,
  };
  // Mcp-Param-* (SEP-2243): re-derived from the arguments as forwarded, after the decision's edits.
  const args = ('params' in forwarded ? forwarded.params?.arguments : undefined) as Record<string, unknown> | undefined;
  for (const key of msg.paramHeaders) {
    const value = paramHeaderValue(args?.[key]);
    if (value !== undefined) headers[`mcp-param-${key.toLowerCase()}`] = encodeParamHeader(value);
  }
  return headers;
}
