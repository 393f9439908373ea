/**
 * The peer principal an ext_authz CheckRequest carries (`source.principal`)
 * is the mesh identity, believed from a trusted proxy address only, within
 * the trust domain; explicit credentials come first, and a principal from an
 * untrusted proxy is refused, never downgraded.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import type { SarkError } from '../../../src/errors.ts';
import { createIdentityStage } from '../../../src/identity/stage.ts';

const SPIFFE = 'spiffe://cluster.local/ns/agents/sa/planner';

function stage(args: string[] = []) {
  return createIdentityStage(loadConfig({ argv: ['--allow-anonymous', 'false', ...args], env: {} }));
}

function refusal(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as SarkError).code;
  }
  return undefined;
}

describe('identity stage: the peer principal', () => {
  it('is the mesh identity when the proxy that reports it is trusted, with no mesh header configured', () => {
    const who = stage().resolve({ headers: {}, remoteAddress: '127.0.0.1', path: '/mcp', peerPrincipal: SPIFFE });
    expect(who).toMatchObject({ id: SPIFFE, type: 'service', authMethod: 'mesh', authenticated: true });
  });

  it('is refused from a proxy outside meshTrustedCidrs, and outside the trust domain', () => {
    const ctx = { headers: {}, path: '/mcp', peerPrincipal: SPIFFE };
    expect(refusal(() => stage().resolve({ ...ctx, remoteAddress: '10.1.2.3' }))).toBe('SARK_UNAUTHENTICATED');
    const other = stage(['--mesh-trust-domain', 'prod.example']);
    expect(refusal(() => other.resolve({ ...ctx, remoteAddress: '127.0.0.1' }))).toBe('SARK_UNAUTHENTICATED');
    expect(
      refusal(() => stage().resolve({ ...ctx, peerPrincipal: 'spiffe://Bad Domain/x', remoteAddress: '::1' })),
    ).toBe('SARK_UNAUTHENTICATED');
  });

  it('comes after explicit credentials, and before the mesh header', () => {
    const s = stage([
      '--api-keys',
      JSON.stringify([{ key: 'k-0123456789abcdef', agentId: 'a1' }]),
      '--mesh-identity-header',
      'x-mesh-id',
    ]);
    const base = { remoteAddress: '127.0.0.1', path: '/mcp', peerPrincipal: SPIFFE };
    expect(s.resolve({ ...base, headers: { 'x-api-key': ['k-0123456789abcdef'] } })).toMatchObject({ id: 'a1' });
    expect(s.resolve({ ...base, headers: { 'x-mesh-id': ['spiffe://cluster.local/other'] } })).toMatchObject({
      id: SPIFFE,
    });
  });

  it('an empty principal is no principal', () => {
    expect(
      refusal(() => stage().resolve({ headers: {}, remoteAddress: '127.0.0.1', path: '/mcp', peerPrincipal: '' })),
    ).toBe('SARK_UNAUTHENTICATED');
  });
});
