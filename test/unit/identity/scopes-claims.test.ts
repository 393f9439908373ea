import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import {
  claimAt,
  DEFAULT_CLAIMS,
  delegationChain,
  identityFromClaims,
  parseClaimPaths,
} from '../../../src/identity/claims.ts';
import {
  challengeScopes,
  expandScopes,
  parseScopeHierarchy,
  scopesOf,
  splitList,
} from '../../../src/identity/scopes.ts';

describe('scope hierarchy', () => {
  const h = parseScopeHierarchy(
    'files:admin>files:write; files:write>files:read, files:list ;all>files:admin mcp:tools',
  );

  it('expands transitively, sorted and without duplicates', () => {
    expect(expandScopes(['files:admin'], h)).toEqual(['files:admin', 'files:list', 'files:read', 'files:write']);
    expect(expandScopes(['all', 'files:read'], h)).toEqual([
      'all',
      'files:admin',
      'files:list',
      'files:read',
      'files:write',
      'mcp:tools',
    ]);
    expect(expandScopes(['other'], h)).toEqual(['other']);
    expect(expandScopes([], h)).toEqual([]);
  });

  it('tolerates cycles', () => {
    const cyc = parseScopeHierarchy('a>b; b>a');
    expect(expandScopes(['a'], cyc)).toEqual(['a', 'b']);
  });

  it('refuses malformed rules at start-up', () => {
    expect(() => parseScopeHierarchy('a>')).toThrow(ConfigError);
    expect(() => parseScopeHierarchy('a>b>c')).toThrow(/scopeHierarchy/);
    expect(() => parseScopeHierarchy('a "b">c')).toThrow(ConfigError);
    expect(parseScopeHierarchy(undefined).size).toBe(0);
  });

  it('reads scope claims as a string or an array, dropping non-scope tokens', () => {
    expect(scopesOf('a b  c')).toEqual(['a', 'b', 'c']);
    expect(scopesOf(['a', 7, 'b"', 'c'])).toEqual(['a', 'c']);
    expect(scopesOf(undefined)).toEqual([]);
    expect(scopesOf({ a: 1 })).toEqual([]);
  });

  it('never challenges for offline_access', () => {
    expect(challengeScopes(['b', 'offline_access', 'a', 'b'])).toEqual(['a', 'b']);
    expect(splitList(' a, b  c,,')).toEqual(['a', 'b', 'c']);
  });
});

describe('claim mapping', () => {
  const none = parseScopeHierarchy(undefined);

  it('maps a user token with the defaults', () => {
    const id = identityFromClaims(
      {
        iss: 'https://as.example',
        sub: 'alice',
        client_id: 'https://app.example/client.json',
        scope: 'mcp:tools files:read',
        roles: ['developer'],
        groups: ['platform', 'sre'],
        tenant: 'acme',
        trust_level: 'medium',
        environment: 'prod',
      },
      DEFAULT_CLAIMS,
      none,
    );
    expect(id).toEqual({
      id: 'alice',
      type: 'user',
      authenticated: true,
      authMethod: 'jwt',
      roles: ['developer'],
      team: 'platform',
      teams: ['platform', 'sre'],
      tenant: 'acme',
      trustLevel: 'medium',
      environment: 'prod',
      scopes: ['files:read', 'mcp:tools'],
      clientId: 'https://app.example/client.json',
      subject: 'alice',
      issuer: 'https://as.example',
      delegation: [],
    });
    expect(Object.isFrozen(id)).toBe(true);
  });

  it('a client-credentials token is the service itself', () => {
    expect(identityFromClaims({ azp: 'svc-1', scp: ['a'] }, DEFAULT_CLAIMS, none)).toMatchObject({
      id: 'svc-1',
      type: 'service',
      clientId: 'svc-1',
      scopes: ['a'],
    });
    expect(identityFromClaims({ sub: 'svc-1', client_id: 'svc-1' }, DEFAULT_CLAIMS, none)?.type).toBe('service');
    expect(identityFromClaims({ scope: 'a' }, DEFAULT_CLAIMS, none)).toBeUndefined();
  });

  it('follows configured nested paths, first present wins, and expands scopes', () => {
    const mapping = {
      ...DEFAULT_CLAIMS,
      roles: parseClaimPaths('jwtClaimRoles', 'realm_access.roles, roles'),
      tenant: parseClaimPaths('jwtClaimTenant', 'org.id'),
    };
    const id = identityFromClaims(
      { sub: 'u', realm_access: { roles: ['admin'] }, roles: ['ignored'], org: { id: 42 }, scope: 'files:write' },
      mapping,
      parseScopeHierarchy('files:write>files:read'),
    );
    expect(id).toMatchObject({ roles: ['admin'], tenant: '42', scopes: ['files:read', 'files:write'] });
    expect(claimAt({ 'a.b': 1, a: { b: 2 } }, 'a.b')).toBe(1);
    expect(claimAt({ a: [1] }, 'a.0')).toBeUndefined();
    expect(() => parseClaimPaths('jwtClaimRoles', ' , ')).toThrow(ConfigError);
    expect(() => parseClaimPaths('jwtClaimRoles', 'a..b/c')).toThrow(ConfigError);
  });

  it('reads the RFC 8693 delegation chain, current actor first, bounded', () => {
    expect(
      delegationChain({
        sub: 'user',
        act: { sub: 'agent-b', client_id: 'b', act: { sub: 'agent-a', iss: 'https://as', act: 'junk' } },
      }),
    ).toEqual([
      { sub: 'agent-b', clientId: 'b', iss: undefined },
      { sub: 'agent-a', clientId: undefined, iss: 'https://as' },
    ]);
    let deep: Record<string, unknown> = { sub: 'last' };
    for (let i = 0; i < 50; i++) deep = { sub: `a${i}`, act: deep };
    expect(delegationChain({ act: deep })).toHaveLength(8);
    expect(delegationChain({ act: ['x'] })).toEqual([]);
  });
});
