/**
 * The identity stage's order of credentials and its answers: a credential
 * that is present but wrong is refused, never downgraded; the challenge and
 * metadata it serves for the OAuth resource-server role.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError, SarkError } from '../../../src/errors.ts';
import { ANONYMOUS } from '../../../src/identity/identity.ts';
import * as jwtSupport from '../../../src/identity/jwt-support.ts';
import { createIdentityStage, type IdentityStage } from '../../../src/identity/stage.ts';

const dir = mkdtempSync(join(tmpdir(), 'sark-stage-'));
const keysFile = join(dir, 'keys.json');
writeFileSync(
  keysFile,
  JSON.stringify([
    { key: 'plain-key-0123456789', agentId: 'a1', roles: ['developer'], tenant: 't1' },
    { sha256: createHash('sha256').update('hashed-key-0123456789').digest('hex'), agentId: 'a2', type: 'service' },
  ]),
);
const RESOURCE = 'http://127.0.0.1:8080/mcp';
const ISSUER = 'https://as.example.test';

function stage(args: string[]): IdentityStage {
  return createIdentityStage(loadConfig({ argv: args, env: {} }), undefined, jwtSupport);
}

function ctx(headers: Record<string, string[]>, remoteAddress = '127.0.0.1') {
  return { headers, remoteAddress, path: '/mcp' };
}

async function code(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (e) {
    return (e as SarkError).code;
  }
  return undefined;
}

describe('identity stage: API keys, mesh, anonymous', () => {
  const s = stage(['--api-keys-file', keysFile, '--mesh-identity-header', 'x-mesh-id']);

  it('API key by bearer or X-API-Key, plain or hashed, answered synchronously', () => {
    expect(s.resolve(ctx({ authorization: ['Bearer plain-key-0123456789'] }))).toMatchObject({
      id: 'a1',
      roles: ['developer'],
      tenant: 't1',
      authMethod: 'api_key',
    });
    expect(s.resolve(ctx({ 'x-api-key': ['hashed-key-0123456789'] }))).toMatchObject({ id: 'a2', type: 'service' });
  });

  it('a wrong or malformed credential is refused, never downgraded to anonymous', async () => {
    expect(await code(() => s.resolve(ctx({ authorization: ['Bearer nope'] })))).toBe('SARK_UNAUTHENTICATED');
    expect(await code(() => s.resolve(ctx({ authorization: ['Basic abc'] })))).toBe('SARK_UNAUTHENTICATED');
    expect(await code(() => s.resolve(ctx({ authorization: ['Bearer a b'] })))).toBe('SARK_UNAUTHENTICATED');
    expect(await code(() => s.resolve(ctx({ authorization: ['Bearer plain-key-0123456789', 'Bearer x'] })))).toBe(
      'SARK_UNAUTHENTICATED',
    );
    expect(await code(() => s.resolve(ctx({ 'x-api-key': ['a', 'b'] })))).toBe('SARK_UNAUTHENTICATED');
  });

  it('mesh identity from the trusted address, then anonymous; the key wins over the mesh header', async () => {
    expect(s.resolve(ctx({ 'x-mesh-id': ['spiffe://td/ns/a/sa/b'] }))).toMatchObject({ authMethod: 'mesh' });
    expect(await code(() => s.resolve(ctx({ 'x-mesh-id': ['spiffe://td/ns/a/sa/b'] }, '192.0.2.1')))).toBe(
      'SARK_UNAUTHENTICATED',
    );
    expect(s.resolve(ctx({ 'x-mesh-id': ['m'], 'x-api-key': ['plain-key-0123456789'] }))).toMatchObject({ id: 'a1' });
    expect(s.resolve(ctx({}))).toBe(ANONYMOUS);
  });

  it('anonymous can be disabled; API-key-only setups challenge with a realm', async () => {
    const strict = stage(['--allow-anonymous', 'false']);
    expect(await code(() => strict.resolve(ctx({})))).toBe('SARK_UNAUTHENTICATED');
    expect(strict.challenge(new SarkError('SARK_UNAUTHENTICATED'))?.wwwAuthenticate).toBe('Bearer realm="sark"');
    expect(strict.servesMetadata('/.well-known/oauth-protected-resource')).toBe(false);
    expect(strict.upstreamAuthorization(ANONYMOUS)).toBeUndefined();
  });
});

describe('identity stage: OAuth resource server', () => {
  let s: IdentityStage;
  let token: string;

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwks = join(dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
    s = stage([
      '--api-keys-file',
      keysFile,
      '--jwt-issuer',
      ISSUER,
      '--jwt-key-file',
      jwks,
      '--resource-url',
      RESOURCE,
      '--scopes-supported',
      'mcp:tools offline_access',
      '--scope-hierarchy',
      'mcp:admin>mcp:tools',
    ]);
    token = await new SignJWT({ iss: ISSUER, aud: RESOURCE, sub: 'alice', scope: 'mcp:admin' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
  });

  it('a JWT-shaped bearer is a token, anything else an API key', async () => {
    expect(await s.resolve(ctx({ authorization: [`Bearer ${token}`] }))).toMatchObject({
      id: 'alice',
      authMethod: 'jwt',
      scopes: ['mcp:admin', 'mcp:tools'],
    });
    expect(s.resolve(ctx({ authorization: ['Bearer plain-key-0123456789'] }))).toMatchObject({ id: 'a1' });
    expect(await code(() => s.resolve(ctx({ authorization: [`Bearer ${token.slice(0, -4)}AAAA`] })))).toBe(
      'SARK_TOKEN_INVALID',
    );
  });

  it('challenges name the path-inserted metadata URL; the metadata lists the scopes without offline_access', () => {
    const meta = 'http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp';
    expect(s.metadataUrl).toBe(meta);
    expect(s.challenge(new SarkError('SARK_UNAUTHENTICATED'))?.wwwAuthenticate).toBe(
      `Bearer resource_metadata="${meta}", scope="mcp:tools"`,
    );
    expect(s.challenge(new SarkError('SARK_INSUFFICIENT_SCOPE'), ['b', 'a'])?.status).toBe(403);
    expect(s.servesMetadata('/.well-known/oauth-protected-resource')).toBe(true);
    expect(s.servesMetadata('/.well-known/oauth-protected-resource/mcp')).toBe(true);
    expect(s.servesMetadata('/.well-known/oauth-protected-resource/other')).toBe(false);
    expect(s.describe()).toMatchObject({ jwt: true, apiKeys: 2, resourceMetadata: meta });
  });

  it('inconsistent settings fail at start-up', () => {
    expect(() => stage(['--jwt-jwks-url', 'https://as.example/jwks'])).toThrow(/jwtIssuer/);
    expect(() => stage(['--jwt-issuer', ISSUER, '--resource-url', RESOURCE])).toThrow(/exactly one/);
    expect(() => stage(['--resource-url', 'http://mcp.example.com/mcp', '--authorization-servers', ISSUER])).toThrow(
      /https/,
    );
    expect(() => stage(['--resource-url', RESOURCE])).toThrow(/at least one authorization server/);
    expect(() => stage(['--upstream-auth', 'client_credentials'])).toThrow(ConfigError);
    expect(() =>
      stage([
        '--upstream-auth',
        'token_exchange',
        '--upstream-token-url',
        'https://as.example/token',
        '--upstream-client-id',
        'sark',
        '--upstream-client-secret',
        's',
      ]),
    ).toThrow(/token_exchange needs JWT/);
    expect(() => stage(['--mesh-identity-header', 'x-mesh', '--mesh-trusted-cidrs', '300.0.0.1/8'])).toThrow(
      /meshTrustedCidrs/,
    );
  });
});

describe('loadIdentityStage', () => {
  it('loads the JWT support (jose) only when jwtIssuer is set', async () => {
    const { loadIdentityStage } = await import('../../../src/identity/stage.ts');
    const keys = await loadIdentityStage(loadConfig({ argv: ['--api-keys', '[]'], env: {} }));
    expect(keys.describe().jwt).toBe(false);
    expect(() =>
      createIdentityStage(
        loadConfig({
          argv: ['--jwt-issuer', ISSUER, '--resource-url', RESOURCE, '--jwt-jwks-url', 'https://as.example/jwks'],
          env: {},
        }),
      ),
    ).toThrow(/JWT support/);
    const jwt = await loadIdentityStage(
      loadConfig({
        argv: ['--jwt-issuer', ISSUER, '--resource-url', RESOURCE, '--jwt-jwks-url', 'https://as.example/jwks'],
        env: {},
      }),
    );
    expect(jwt.describe().jwt).toBe(true);
  });
});
