import { describe, expect, it } from 'vitest';
import { ConfigError, SarkError } from '../../../src/errors.ts';
import { challengeFor, quoted } from '../../../src/identity/challenge.ts';
import {
  addressTrusted,
  MeshIdentity,
  parseXfcc,
  spiffeIdFromXfcc,
  trustedAddresses,
  XFCC,
} from '../../../src/identity/mesh.ts';

const META = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';
const OAUTH = { resourceMetadataUrl: META, defaultScopes: ['mcp:tools', 'offline_access'], realm: 'sark' };

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as SarkError).code;
  }
  return undefined;
}

describe('WWW-Authenticate challenges', () => {
  it('401 without a token names the metadata and the basic scopes, never offline_access', () => {
    expect(challengeFor(new SarkError('SARK_UNAUTHENTICATED'), OAUTH)).toEqual({
      status: 401,
      wwwAuthenticate: `Bearer resource_metadata="${META}", scope="mcp:tools"`,
    });
  });

  it('401 for a bad or expired token says invalid_token', () => {
    expect(challengeFor(new SarkError('SARK_TOKEN_EXPIRED'), OAUTH)?.wwwAuthenticate).toBe(
      `Bearer error="invalid_token", error_description="the access token has expired", resource_metadata="${META}", scope="mcp:tools"`,
    );
    expect(challengeFor(new SarkError('SARK_TOKEN_AUDIENCE'), OAUTH)?.wwwAuthenticate).toMatch(
      /^Bearer error="invalid_token", error_description="the access token was not issued for this resource"/,
    );
  });

  it('403 step-up names every required scope in one challenge', () => {
    const c = challengeFor(new SarkError('SARK_INSUFFICIENT_SCOPE'), OAUTH, [
      'time:read',
      'mcp:tools',
      'offline_access',
    ]);
    expect(c).toEqual({
      status: 403,
      wwwAuthenticate: `Bearer error="insufficient_scope", scope="mcp:tools time:read", resource_metadata="${META}", error_description="the access token lacks scopes this operation requires"`,
    });
  });

  it('API keys only: a realm, no OAuth parameters; other refusals get no challenge', () => {
    const keysOnly = { resourceMetadataUrl: undefined, defaultScopes: [], realm: 'sark' };
    expect(challengeFor(new SarkError('SARK_UNAUTHENTICATED'), keysOnly)?.wwwAuthenticate).toBe('Bearer realm="sark"');
    expect(challengeFor(new SarkError('SARK_POLICY_DENIED'), OAUTH)).toBeUndefined();
    expect(challengeFor(new SarkError('SARK_TOKEN_KEYS_UNAVAILABLE'), OAUTH)).toBeUndefined();
  });

  it('quotes values as RFC 9110 quoted-strings', () => {
    expect(quoted('a"b\\c\r\nd\te')).toBe('"a\\"b\\\\cd\te"');
  });
});

describe('XFCC', () => {
  const ours =
    'By=spiffe://cluster.local/ns/mcp/sa/sark;Hash=abc123;Subject="CN=x,O=y";URI=spiffe://cluster.local/ns/agents/sa/planner';

  it('parses elements, quoted values and escapes', () => {
    expect(parseXfcc(`${ours};DNS=a.example`)).toEqual([
      {
        by: ['spiffe://cluster.local/ns/mcp/sa/sark'],
        hash: ['abc123'],
        subject: ['CN=x,O=y'],
        uri: ['spiffe://cluster.local/ns/agents/sa/planner'],
        dns: ['a.example'],
      },
    ]);
    expect(parseXfcc('By=a;Subject="q\\"uote;d"')).toEqual([{ by: ['a'], subject: ['q"uote;d'] }]);
    expect(() => parseXfcc('By=a;Subject="open')).toThrow(SyntaxError);
    expect(() => parseXfcc('justakey')).toThrow(SyntaxError);
  });

  it('trusts the last element only: an element the caller sent itself is ignored', () => {
    const forged = 'By=spiffe://x/y;URI=spiffe://cluster.local/ns/admin/sa/root';
    expect(spiffeIdFromXfcc(`${forged},${ours}`)).toBe('spiffe://cluster.local/ns/agents/sa/planner');
  });

  it('refuses an element with no or several SPIFFE URIs', () => {
    expect(code(() => spiffeIdFromXfcc('By=a;Hash=b;URI=https://not-spiffe'))).toBe('SARK_UNAUTHENTICATED');
    expect(code(() => spiffeIdFromXfcc('URI=spiffe://a/b;URI=spiffe://a/c'))).toBe('SARK_UNAUTHENTICATED');
    expect(code(() => spiffeIdFromXfcc('URI="spiffe://a/b'))).toBe('SARK_UNAUTHENTICATED');
  });
});

describe('mesh identity', () => {
  const mesh = new MeshIdentity({
    header: XFCC,
    trustedCidrs: ['127.0.0.0/8', '::1/128'],
    trustDomain: 'cluster.local',
  });
  const value = 'By=spiffe://cluster.local/ns/mcp/sa/sark;URI=spiffe://cluster.local/ns/agents/sa/planner';

  it('believes the header from the proxy address only', () => {
    expect(mesh.resolve([value], '127.0.0.6')).toMatchObject({
      id: 'spiffe://cluster.local/ns/agents/sa/planner',
      authMethod: 'mesh',
      type: 'service',
      scopes: [],
    });
    expect(mesh.resolve([value], '::ffff:127.0.0.1').id).toBe('spiffe://cluster.local/ns/agents/sa/planner');
    expect(code(() => mesh.resolve([value], '10.1.2.3'))).toBe('SARK_UNAUTHENTICATED');
    expect(code(() => mesh.resolve([value], undefined))).toBe('SARK_UNAUTHENTICATED');
  });

  it('refuses a repeated header and a foreign trust domain', () => {
    expect(code(() => mesh.resolve([value, value], '127.0.0.1'))).toBe('SARK_UNAUTHENTICATED');
    expect(code(() => mesh.resolve(['URI=spiffe://evil.example/ns/a'], '127.0.0.1'))).toBe('SARK_UNAUTHENTICATED');
  });

  it('a plain header holds the identity as is', () => {
    const plain = new MeshIdentity({ header: 'x-mesh-id', trustedCidrs: ['127.0.0.1/32'], trustDomain: undefined });
    expect(plain.resolve(['agent-7'], '127.0.0.1').id).toBe('agent-7');
    expect(code(() => plain.resolve(['spiffe://Bad Domain/x'], '127.0.0.1'))).toBe('SARK_UNAUTHENTICATED');
  });

  it('CIDRs are validated at start-up', () => {
    expect(() => trustedAddresses(['127.0.0.1/33'])).toThrow(ConfigError);
    expect(() => trustedAddresses(['nonsense'])).toThrow(ConfigError);
    const list = trustedAddresses(['10.0.0.0/8', 'fd00::/8']);
    expect(addressTrusted(list, '10.9.9.9')).toBe(true);
    expect(addressTrusted(list, 'fd00::1')).toBe(true);
    expect(addressTrusted(list, '11.0.0.1')).toBe(false);
    expect(addressTrusted(list, 'not-an-ip')).toBe(false);
  });
});
