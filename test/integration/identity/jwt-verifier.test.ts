/**
 * Token verification against a live JWKS endpoint on loopback: key rotation
 * picked up without a restart, refreshes bounded by the cooldown, every
 * claim check, the verified-token cache, and fail-closed answers when the
 * JWKS cannot be read.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import type { SarkError } from '../../../src/errors.ts';
import * as jwtSupport from '../../../src/identity/jwt-support.ts';
import { IdentityStage } from '../../../src/identity/stage.ts';

const ISSUER = 'https://as.example.test';
const RESOURCE = 'http://127.0.0.1:9/mcp';

interface Key {
  kid: string;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  jwk: JWK;
}

async function newKey(kid: string, alg = 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

function sign(key: Key, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: ISSUER,
    aud: RESOURCE,
    sub: 'alice',
    client_id: 'c-1',
    scope: 'mcp:tools',
    iat: now,
    exp: now + 300,
    ...claims,
  })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt', ...header })
    .sign(key.privateKey);
}

describe('JWT verification with a live JWKS', () => {
  let server: Server;
  let jwksUrl: string;
  let published: JWK[] = [];
  let fetches = 0;
  let failing = false;
  let k1: Key;
  let k2: Key;

  beforeAll(async () => {
    [k1, k2] = await Promise.all([newKey('k1'), newKey('k2')]);
    published = [k1.jwk];
    server = createServer((_req, res) => {
      fetches++;
      if (failing) return void res.writeHead(500).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  function stage(extra: string[] = []): IdentityStage {
    const config = loadConfig({
      argv: [
        '--jwt-issuer',
        ISSUER,
        '--jwt-jwks-url',
        jwksUrl,
        '--resource-url',
        RESOURCE,
        '--jwt-jwks-cooldown-ms',
        '300',
        ...extra,
      ],
      env: {},
    });
    return new IdentityStage(config, undefined, jwtSupport);
  }

  async function failure(s: IdentityStage, token: string): Promise<string | undefined> {
    try {
      await s.resolve({ headers: { authorization: [`Bearer ${token}`] }, remoteAddress: '127.0.0.1', path: '/mcp' });
    } catch (e) {
      return (e as SarkError).code;
    }
    return undefined;
  }

  it('accepts a good token, then answers from the cache synchronously', async () => {
    const s = stage();
    const token = await sign(k1, { roles: ['developer'] });
    const ctx = { headers: { authorization: [`Bearer ${token}`] }, remoteAddress: '127.0.0.1', path: '/mcp' };
    const first = s.resolve(ctx);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toMatchObject({
      id: 'alice',
      authMethod: 'jwt',
      clientId: 'c-1',
      scopes: ['mcp:tools'],
      roles: ['developer'],
    });
    const again = s.resolve(ctx);
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toBe(await first);
  });

  it('picks up a rotated key without a restart; refreshes are bounded by the cooldown', async () => {
    const s = stage();
    await s.resolve({
      headers: { authorization: [`Bearer ${await sign(k1, {})}`] },
      remoteAddress: undefined,
      path: '/mcp',
    });
    // The issuer rotates: k2 published, k1 withdrawn.
    published = [k2.jwk];
    await new Promise((r) => setTimeout(r, 350));
    const before = fetches;
    const rotated = await sign(k2, { sub: 'bob' });
    await expect(
      s.resolve({ headers: { authorization: [`Bearer ${rotated}`] }, remoteAddress: undefined, path: '/mcp' }),
    ).resolves.toMatchObject({ id: 'bob' });
    expect(fetches).toBe(before + 1);
    // Tokens naming unknown key ids within the cooldown cost no fetch.
    const forged = await newKey('made-up');
    for (let i = 0; i < 5; i++)
      expect(await failure(s, await sign(forged, { sub: `m${i}` }))).toBe('SARK_TOKEN_INVALID');
    expect(fetches).toBe(before + 1);
    published = [k1.jwk];
  });

  it('refuses wrong audience, wrong issuer, expiry, future tokens, bad signatures and unsigned tokens', async () => {
    const s = stage();
    const now = Math.floor(Date.now() / 1000);
    expect(await failure(s, await sign(k1, { aud: 'https://other.example/mcp' }))).toBe('SARK_TOKEN_AUDIENCE');
    expect(await failure(s, await sign(k1, { aud: undefined }))).toBe('SARK_TOKEN_AUDIENCE');
    expect(await failure(s, await sign(k1, { iss: 'https://evil.example' }))).toBe('SARK_TOKEN_INVALID');
    expect(await failure(s, await sign(k1, { exp: now - 120 }))).toBe('SARK_TOKEN_EXPIRED');
    expect(await failure(s, await sign(k1, { exp: undefined }))).toBe('SARK_TOKEN_INVALID');
    expect(await failure(s, await sign(k1, { nbf: now + 600 }))).toBe('SARK_TOKEN_INVALID');
    expect(await failure(s, await sign(k1, { iat: now + 600 }))).toBe('SARK_TOKEN_INVALID');
    expect(await failure(s, await sign(k1, { sub: undefined, client_id: undefined }))).toBe('SARK_TOKEN_INVALID');
    const good = await sign(k1, {});
    const [h, p] = good.split('.');
    expect(await failure(s, `${h}.${p}.${'A'.repeat(86)}`)).toBe('SARK_TOKEN_INVALID');
    const unsigned = new UnsecuredJWT({ iss: ISSUER, aud: RESOURCE, sub: 'x', exp: now + 60 }).encode();
    expect(await failure(s, unsigned)).toBe('SARK_TOKEN_INVALID');
    // Within the skew: an expiry 10 s ago still passes with the 30 s default.
    expect(await failure(s, await sign(k1, { exp: now - 10 }))).toBeUndefined();
    // The audience in canonical variants (trailing slash, upper-case host) is this resource too.
    expect(await failure(s, await sign(k1, { aud: ['https://x.example', `${RESOURCE}/`] }))).toBeUndefined();
  });

  it('checks typ and age when configured', async () => {
    const s = stage(['--jwt-type', 'at+jwt', '--jwt-max-age-seconds', '60']);
    expect(await failure(s, await sign(k1, {}, { typ: 'JWT' }))).toBe('SARK_TOKEN_INVALID');
    // Older than the maximum age counts as expired.
    expect(await failure(s, await sign(k1, { iat: Math.floor(Date.now() / 1000) - 600 }))).toBe('SARK_TOKEN_EXPIRED');
    expect(await failure(s, await sign(k1, {}))).toBeUndefined();
  });

  it('a JWKS that cannot be read fails closed with 503, and recovers', async () => {
    const s = stage(['--jwt-jwks-cache-max-age-ms', '1000']);
    failing = true;
    try {
      expect(await failure(s, await sign(k1, { sub: 'carol' }))).toBe('SARK_TOKEN_KEYS_UNAVAILABLE');
    } finally {
      failing = false;
    }
    await new Promise((r) => setTimeout(r, 350));
    expect(await failure(s, await sign(k1, { sub: 'carol' }))).toBeUndefined();
  });

  it('algorithm rules are enforced at start-up', () => {
    expect(() => stage(['--jwt-algorithms', 'none'])).toThrow(/never accepted/);
    expect(() => stage(['--jwt-algorithms', 'HS256,ES256'])).toThrow(/HMAC/);
    expect(() => stage(['--jwt-algorithms', 'XX1'])).toThrow(/unknown/);
    expect(
      () =>
        new IdentityStage(
          loadConfig({ argv: ['--jwt-issuer', ISSUER, '--jwt-jwks-url', jwksUrl], env: {} }),
          undefined,
          jwtSupport,
        ),
    ).toThrow(/resourceUrl/);
  });
});
