/**
 * The MCP authorization flow end to end, on real parts: the official SDK v1
 * client runs its own OAuth flow (discovery through SARK's Protected Resource
 * Metadata, dynamic registration, authorization code + PKCE with the RFC 8707
 * resource, the step-up on a 403) against oidc-provider on loopback, and
 * talks through SARK — real OPA deciding — to the SDK demo server, which has
 * no auth code at all.
 */

import { type OAuthClientProvider, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../../../src/demo/server.ts';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type AuthorizationServer, startAuthorizationServer } from '../../support/authorization-server.ts';
import { freePort, type Service, startOpa, waitFor } from '../../support/services.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';

/** The host application's side of the SDK flow: in-memory storage, and a "browser" that is the test. */
class TestOAuthProvider implements OAuthClientProvider {
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier = '';
  /** The authorization URL the SDK last asked the user to open. */
  pending: URL | undefined;
  readonly redirectUrl = REDIRECT;
  readonly clientMetadata: OAuthClientMetadata = {
    client_name: 'sark-oauth-test',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
  clientInformation() {
    return this.#client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.#client = info;
  }
  tokens() {
    return this.#tokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.#tokens = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.pending = url;
  }
  saveCodeVerifier(v: string) {
    this.#verifier = v;
  }
  codeVerifier() {
    return this.#verifier;
  }
}

function textOf(result: unknown): string {
  return ((result as { content: { text: string }[] }).content[0] as { text: string }).text;
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

const CALL_ECHO = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'x' } },
});

describe('MCP authorization through SARK with a real authorization server', () => {
  let as: AuthorizationServer;
  let opa: Service;
  let upstream: DemoServer;
  let sidecar: Sidecar;
  let resource: string;
  let metadataUrl: string;

  beforeAll(async () => {
    [as, opa, upstream] = await Promise.all([startAuthorizationServer(), startOpa(), startDemoServer()]);
    // The public URL must be known before SARK starts: it is the token audience.
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    metadataUrl = `http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`;
    sidecar = await startTestSidecar([
      '--listen',
      `127.0.0.1:${port}`,
      '--opa-url',
      opa.url,
      '--opa-timeout-ms',
      '2000',
      '--upstream-url',
      upstream.url,
      '--allow-anonymous',
      'false',
      '--resource-url',
      resource,
      '--jwt-issuer',
      as.issuer,
      '--jwt-jwks-url',
      as.jwksUrl,
      '--jwt-type',
      'at+jwt',
      '--jwt-clock-skew-seconds',
      '0',
      '--jwt-jwks-cooldown-ms',
      '0',
      '--scopes-supported',
      'mcp:tools',
    ]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
    await opa?.stop();
    await as?.close();
  });

  it('serves Protected Resource Metadata at the path-inserted and the root well-known URIs', async () => {
    for (const url of [metadataUrl, new URL('/.well-known/oauth-protected-resource', resource).href]) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        resource,
        authorization_servers: [as.issuer],
        scopes_supported: ['mcp:tools'],
        bearer_methods_supported: ['header'],
      });
    }
  });

  it('the SDK client authorizes, calls, steps up for a scope, and the upstream never sees its token', async () => {
    const auth = new TestOAuthProvider();
    const first = new StreamableHTTPClientTransport(new URL(resource), { authProvider: auth });
    // No token: 401 with the challenge; the SDK discovers SARK's metadata, registers, and asks the user.
    await expect(new Client({ name: 'oauth-test', version: '1' }).connect(first)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    expect(auth.pending?.searchParams.get('resource')).toBe(resource);
    expect(auth.pending?.searchParams.get('scope')).toBe('mcp:tools');
    expect(auth.pending?.searchParams.get('code_challenge_method')).toBe('S256');
    await first.finishAuth(await as.authorize(auth.pending!, REDIRECT));
    const token = auth.tokens()!.access_token;
    expect(decodeJwt(token)).toMatchObject({ aud: resource, iss: as.issuer, sub: 'alice', scope: 'mcp:tools' });

    const transport = new StreamableHTTPClientTransport(new URL(resource), { authProvider: auth });
    const client = new Client({ name: 'oauth-test', version: '1' });
    await client.connect(transport);
    try {
      const result = await client.callTool({ name: 'echo', arguments: { text: 'hello with a token' } });
      expect(textOf(result)).toBe('hello with a token');

      // get_time needs time:read as well: 403 insufficient_scope, and the SDK goes back to the user.
      auth.pending = undefined;
      await expect(client.callTool({ name: 'get_time', arguments: {} })).rejects.toBeInstanceOf(UnauthorizedError);
      expect(auth.pending).toBeDefined();
      expect(new Set(auth.pending!.searchParams.get('scope')!.split(' '))).toEqual(new Set(['mcp:tools', 'time:read']));
      expect(upstream.executed).not.toContain('get_time');
      await transport.finishAuth(await as.authorize(auth.pending!, REDIRECT));
      const stepped = auth.tokens()!.access_token;
      expect(decodeJwt(stepped).scope).toBe('mcp:tools time:read');
      const time = await client.callTool({ name: 'get_time', arguments: {} });
      expect(textOf(time)).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(upstream.executed).toContain('get_time');

      // No token passthrough: no request that reached the server carried either token or any Authorization.
      const seen = JSON.stringify(upstream.requestHeaders);
      expect(upstream.requestHeaders.length).toBeGreaterThan(3);
      expect(seen).not.toContain(token);
      expect(seen).not.toContain(stepped);
      expect(upstream.requestHeaders.every((h) => h.authorization === undefined)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('the step-up challenge names every required scope, the metadata, and is counted by reason', async () => {
    const token = await as.clientCredentials(as.service, resource, 'mcp:tools');
    const res = await rawPost(
      resource,
      JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'get_time', arguments: {} } }),
      bearer(token),
    );
    expect(res.status).toBe(403);
    expect(res.headers.get('x-sark-error')).toBe('SARK_INSUFFICIENT_SCOPE');
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_scope", scope="mcp:tools time:read", resource_metadata="${metadataUrl}", error_description="the access token lacks scopes this operation requires"`,
    );
    expect(res.json.error).toMatchObject({ code: -32008, data: { required_scopes: ['mcp:tools', 'time:read'] } });
    const metrics = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/sark_decisions_total\{[^}]*reason="insufficient_scope"[^}]*\} [1-9]/);
  });

  it('a token issued for another resource is refused (RFC 8707 audience)', async () => {
    const other = await as.clientCredentials(as.service, 'http://127.0.0.1:1/other/mcp', 'mcp:tools');
    const res = await rawPost(resource, CALL_ECHO, bearer(other));
    expect(res.status).toBe(401);
    expect(res.headers.get('x-sark-error')).toBe('SARK_TOKEN_AUDIENCE');
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer error="invalid_token", error_description="the access token was not issued for this resource", resource_metadata="${metadataUrl}", scope="mcp:tools"`,
    );
  });

  it('an expired token is refused, although it was accepted (and remembered) before', async () => {
    const token = await as.clientCredentials(as.shortLived, resource, 'mcp:tools');
    const ok = await rawPost(resource, CALL_ECHO, bearer(token));
    expect(ok.headers.get('x-sark-error')).toBeNull();
    let last: Awaited<ReturnType<typeof rawPost>> | undefined;
    await waitFor(
      'token expiry',
      async () => {
        last = await rawPost(resource, CALL_ECHO, bearer(token));
        return last.status === 401;
      },
      5_000,
    );
    expect(last!.headers.get('x-sark-error')).toBe('SARK_TOKEN_EXPIRED');
    expect(last!.headers.get('www-authenticate')).toMatch(
      /^Bearer error="invalid_token", error_description="the access token has expired"/,
    );
    const executed = upstream.executed.length;
    const again = await rawPost(resource, CALL_ECHO, bearer(token));
    expect(again.headers.get('x-sark-error')).toBe('SARK_TOKEN_EXPIRED');
    expect(upstream.executed.length).toBe(executed);
  });

  it('GET streams, resumption and DELETE are authenticated like POST; 2026-era POSTs too', async () => {
    const token = await as.clientCredentials(as.service, resource, 'mcp:tools');
    const other = await as.clientCredentials(as.service, 'http://127.0.0.1:1/other/mcp', 'mcp:tools');
    const sse = { accept: 'text/event-stream', 'mcp-protocol-version': '2025-11-25' };
    const cases: [string, RequestInit][] = [
      ['GET', { method: 'GET', headers: sse }],
      ['GET resume', { method: 'GET', headers: { ...sse, 'last-event-id': 'e-1', 'mcp-session-id': 's-1' } }],
      ['DELETE', { method: 'DELETE', headers: { 'mcp-session-id': 's-1', 'mcp-protocol-version': '2025-11-25' } }],
    ];
    for (const [name, init] of cases) {
      for (const [who, headers] of [
        ['no token', {}],
        ['foreign token', bearer(other)],
      ] as const) {
        const res = await fetch(resource, { ...init, headers: { ...(init.headers as object), ...headers } });
        await res.arrayBuffer();
        expect([name, who, res.status]).toEqual([name, who, 401]);
        expect(res.headers.get('www-authenticate')).toContain(`resource_metadata="${metadataUrl}"`);
      }
      // With a good token the request gets past the identity stage (the session
      // id s-1 was never opened through SARK, so those are refused as unknown sessions).
      const ctrl = new AbortController();
      const res = await fetch(resource, {
        ...init,
        headers: { ...(init.headers as object), ...bearer(token) },
        signal: ctrl.signal,
      });
      expect([name, res.status]).not.toEqual([name, 401]);
      expect(res.headers.get('x-sark-error') ?? 'none').toMatch(/^(none|SARK_SESSION_NOT_FOUND)$/);
      ctrl.abort();
    }
    const modern = {
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
    };
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: {
        name: 'echo',
        arguments: { text: 'x' },
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    });
    const refused = await rawPost(resource, body, modern);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${metadataUrl}", scope="mcp:tools"`,
    );
    const passed = await rawPost(resource, body, { ...modern, ...bearer(token) });
    expect(passed.headers.get('x-sark-error')).toBeNull();
  });

  it('picks up the issuer key rotation from the live JWKS without a restart', async () => {
    const oldKids = as.kids();
    const unseenOldToken = await as.clientCredentials(as.service, resource, 'mcp:tools');
    await as.rotateKeys();
    expect(as.kids()).not.toEqual(oldKids);
    const fresh = await as.clientCredentials(as.service, resource, 'mcp:tools');
    expect(oldKids).not.toContain(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid);
    const res = await rawPost(resource, CALL_ECHO, bearer(fresh));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-sark-error')).toBeNull();
    // A token signed with the withdrawn key, never verified before, no longer verifies.
    const stale = await rawPost(resource, CALL_ECHO, bearer(unseenOldToken));
    expect(stale.status).toBe(401);
    expect(stale.headers.get('x-sark-error')).toBe('SARK_TOKEN_INVALID');
  });
});

describe('the upstream gets a token of its own (client credentials), never the client one', () => {
  let as: AuthorizationServer;
  let upstream: DemoServer;
  let sidecar: Sidecar;
  let resource: string;

  beforeAll(async () => {
    [as, upstream] = await Promise.all([startAuthorizationServer(), startDemoServer()]);
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    sidecar = await startTestSidecar([
      '--listen',
      `127.0.0.1:${port}`,
      '--upstream-url',
      upstream.url,
      '--resource-url',
      resource,
      '--jwt-issuer',
      as.issuer,
      '--jwt-jwks-url',
      as.jwksUrl,
      '--scopes-supported',
      'mcp:tools',
      '--upstream-auth',
      'client_credentials',
      '--upstream-token-url',
      as.tokenUrl,
      '--upstream-client-id',
      as.service.id,
      '--upstream-client-secret',
      as.service.secret,
      '--upstream-token-resource',
      upstream.url,
      '--upstream-token-scope',
      'files:read',
    ]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
    await as?.close();
  });

  it('sets a cached upstream token with the upstream as audience', async () => {
    const clientToken = await as.clientCredentials(as.service, resource, 'mcp:tools');
    for (let i = 0; i < 2; i++) {
      const res = await rawPost(resource, CALL_ECHO, bearer(clientToken));
      expect(res.headers.get('x-sark-error')).toBeNull();
    }
    const auths = upstream.requestHeaders.map((h) => h.authorization);
    expect(auths).toHaveLength(2);
    expect(auths[0]).toBe(auths[1]);
    const upstreamToken = auths[0]!.replace(/^Bearer /, '');
    expect(upstreamToken).not.toBe(clientToken);
    expect(decodeJwt(upstreamToken)).toMatchObject({
      aud: upstream.url,
      client_id: as.service.id,
      scope: 'files:read',
    });
  });
});
