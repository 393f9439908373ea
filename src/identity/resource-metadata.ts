/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for the MCP endpoint SARK
 * protects. MCP authorization ("Authorization Server Discovery") makes the
 * server publish it, either at the path-inserted well-known URI (RFC 9728
 * §3.1: `/.well-known/oauth-protected-resource` + the resource's path) or at
 * the root; SARK serves both, and names the path-inserted one in every
 * challenge (`resource_metadata`, RFC 9728 §5.1).
 *
 * `resource` is SARK's public URL of the MCP endpoint (resourceUrl), the same
 * string tokens must carry as their audience.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../errors.ts';
import { challengeScopes } from './scopes.ts';

export const WELL_KNOWN = '/.well-known/oauth-protected-resource';

export interface ResourceMetadataOptions {
  /** The canonical URI of the protected MCP endpoint, e.g. https://mcp.example.com/mcp. */
  readonly resource: string;
  readonly authorizationServers: readonly string[];
  readonly scopesSupported: readonly string[];
  /** The MCP path on SARK's own listener (may differ from the public path behind a proxy). */
  readonly mcpPath: string;
}

export interface ResourceMetadata {
  /** The URL clients are pointed at. */
  readonly url: string;
  /** The paths on SARK's listener that serve the document. */
  readonly paths: ReadonlySet<string>;
  readonly document: Readonly<Record<string, unknown>>;
}

/** Checks the resource URI (RFC 8707 §2: absolute, no fragment) and builds the document. Throws ConfigError. */
export function resourceMetadata(options: ResourceMetadataOptions): ResourceMetadata {
  let url: URL;
  try {
    url = new URL(options.resource);
  } catch {
    throw new ConfigError(`resourceUrl: "${options.resource}" is not an absolute URL`);
  }
  if (!/^https?:$/.test(url.protocol) || url.hash !== '' || options.resource.includes('#')) {
    throw new ConfigError(`resourceUrl: "${options.resource}" must be an http(s) URL without a fragment`);
  }
  if (url.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    // OAuth 2.1 §1.5: bearer tokens travel over TLS only; plain http is for loopback tests.
    throw new ConfigError(`resourceUrl: "${options.resource}" must use https (http is for loopback only)`);
  }
  if (options.authorizationServers.length === 0) {
    throw new ConfigError(
      'authorizationServers: Protected Resource Metadata must name at least one authorization server',
    );
  }
  for (const as of options.authorizationServers) {
    if (!URL.canParse(as) || !/^https?:/.test(as)) {
      throw new ConfigError(`authorizationServers: "${as}" is not an http(s) URL`);
    }
  }
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const paths = new Set([WELL_KNOWN, `${WELL_KNOWN}${path}`, `${WELL_KNOWN}${options.mcpPath}`]);
  const scopes = challengeScopes(options.scopesSupported);
  const document = Object.freeze({
    resource: options.resource,
    authorization_servers: [...options.authorizationServers],
    ...(scopes.length > 0 ? { scopes_supported: scopes } : {}),
    bearer_methods_supported: ['header'],
  });
  return { url: `${url.origin}${WELL_KNOWN}${path}`, paths, document };
}

/**
 * Answers a request for the metadata document: GET/HEAD with the JSON, an
 * OPTIONS preflight (browser-based MCP clients read it cross-origin; the
 * document is public), 405 otherwise.
 */
export function serveResourceMetadata(meta: ResourceMetadata, req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  res.setHeader('access-control-allow-origin', '*');
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { 'access-control-allow-methods': 'GET, HEAD, OPTIONS', 'access-control-max-age': '86400' });
    res.end();
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD, OPTIONS' }).end();
    return;
  }
  const body = JSON.stringify(meta.document);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'public, max-age=300',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
