/**
 * The same authorization flow with the official SDK v2 client
 * (`@modelcontextprotocol/client` 2.4) pinned to protocol 2026-07-28, through
 * SARK to the SDK v2 server: discovery, registration, authorization code +
 * PKCE with the RFC 9207 `iss` check, and the step-up, where this client asks
 * for the union of its scopes and the challenge's (2026-07-28 "Step-Up
 * Authorization Flow").
 */
import {
  Client,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthTokens,
  StreamableHTTPClientTransport,
  UnauthorizedError,
} from '@modelcontextprotocol/client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type AuthorizationServer, startAuthorizationServer } from '../../support/authorization-server.ts';
import { freePort } from '../../support/services.ts';
import { startTestSidecar } from '../../support/sidecar.ts';
import { startV2Server, type V2Server } from '../../support/v2-server.ts';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';

class V2TestOAuthProvider implements OAuthClientProvider {
  #client: unknown;
  #tokens: OAuthTokens | undefined;
  #verifier = '';
  pending: URL | undefined;
  readonly redirectUrl = REDIRECT;
  readonly clientMetadata: OAuthClientMetadata = {
    client_name: 'sark-oauth-test-v2',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
  clientInformation() {
    return this.#client as ReturnType<OAuthClientProvider['clientInformation']>;
  }
  saveClientInformation(info: unknown) {
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

function v2Client(): Client {
  return new Client(
    { name: 'oauth-test-v2', version: '2' },
    { capabilities: {}, versionNegotiation: { mode: { pin: '2026-07-28' }, probe: { timeoutMs: 10_000 } } },
  );
}

function textOf(result: unknown): string {
  return ((result as { content: { text: string }[] }).content[0] as { text: string }).text;
}

describe('MCP authorization through SARK, SDK v2 client, protocol 2026-07-28', () => {
  let as: AuthorizationServer;
  let upstream: V2Server;
  let sidecar: Sidecar;
  let resource: string;

  beforeAll(async () => {
    [as, upstream] = await Promise.all([startAuthorizationServer(), startV2Server()]);
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    // The embedded (WASM) policy this time; the same rules.
    sidecar = await startTestSidecar([
      '--listen',
      `127.0.0.1:${port}`,
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
      '--scopes-supported',
      'mcp:tools',
    ]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
    await as?.close();
  });

  it('authorizes, calls, steps up with the union of scopes, and the upstream never sees the token', async () => {
    const auth = new V2TestOAuthProvider();
    const first = new StreamableHTTPClientTransport(new URL(resource), { authProvider: auth });
    await expect(v2Client().connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(auth.pending?.searchParams.get('resource')).toBe(resource);
    await first.finishAuth((await as.authorizeCallback(auth.pending!, REDIRECT)).searchParams);
    const token = auth.tokens()!.access_token;
    expect(decodeJwt(token)).toMatchObject({ aud: resource, scope: 'mcp:tools' });

    const transport = new StreamableHTTPClientTransport(new URL(resource), { authProvider: auth });
    const client = v2Client();
    await client.connect(transport);
    try {
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'v2 with a token' } }))).toBe(
        'v2 with a token',
      );
      auth.pending = undefined;
      await expect(client.callTool({ name: 'get_time', arguments: {} })).rejects.toBeInstanceOf(UnauthorizedError);
      expect(new Set(auth.pending!.searchParams.get('scope')!.split(' '))).toEqual(new Set(['mcp:tools', 'time:read']));
      expect(upstream.executed).not.toContain('get_time');
      await transport.finishAuth((await as.authorizeCallback(auth.pending!, REDIRECT)).searchParams);
      const stepped = auth.tokens()!.access_token;
      expect(decodeJwt(stepped).scope).toBe('mcp:tools time:read');
      expect(textOf(await client.callTool({ name: 'get_time', arguments: {} }))).toMatch(/^\d{4}-\d\d-\d\dT/);

      const modern = upstream.requests.filter((r) => r.headers['mcp-protocol-version']?.[0] === '2026-07-28');
      expect(modern.length).toBeGreaterThan(0);
      const seen = JSON.stringify(upstream.requests.map((r) => r.headers));
      expect(seen).not.toContain(token);
      expect(seen).not.toContain(stepped);
      expect(upstream.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
    } finally {
      await client.close();
    }
  });
});
