/**
 * Claim mapping: a verified token's claims → the identity the policy sees.
 *
 * Each identity field is read from the first configured claim path that is
 * present (paths are dot-separated, e.g. `realm_access.roles` for Keycloak),
 * so one setting serves providers that name things differently: scopes from
 * `scope` (RFC 9068) or `scp`, the client from `client_id` (RFC 9068 §2.2) or
 * `azp` (OIDC). The client id may be an HTTPS URL: under Client ID Metadata
 * Documents (MCP 2025-11-25 onward) that URL is the client's identifier.
 */
import { ConfigError } from '../errors.ts';
import type { Actor, Identity } from './identity.ts';
import { expandScopes, type ScopeHierarchy, scopesOf } from './scopes.ts';

export interface ClaimMapping {
  readonly subject: readonly string[];
  readonly clientId: readonly string[];
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly teams: readonly string[];
  readonly tenant: readonly string[];
  readonly trustLevel: readonly string[];
  readonly environment: readonly string[];
}

export const DEFAULT_CLAIMS: ClaimMapping = Object.freeze({
  subject: ['sub'],
  clientId: ['client_id', 'azp'],
  scopes: ['scope', 'scp'],
  roles: ['roles'],
  teams: ['teams', 'groups'],
  tenant: ['tenant'],
  trustLevel: ['trust_level'],
  environment: ['environment'],
});

const PATH = /^[A-Za-z0-9_:$.-]+$/;

/** Parses one mapping setting: comma-separated claim paths, tried in order. */
export function parseClaimPaths(setting: string, text: string): string[] {
  const paths = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (paths.length === 0 || !paths.every((p) => PATH.test(p) && !p.startsWith('.') && !p.endsWith('.'))) {
    throw new ConfigError(
      `${setting}: "${text}" is not a comma-separated list of claim paths such as "roles,realm_access.roles"`,
    );
  }
  return paths;
}

/** The value at a dot-separated path; a claim whose own name holds a dot is found too. */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let node: unknown = claims;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, part))
      return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function first(claims: Readonly<Record<string, unknown>>, paths: readonly string[]): unknown {
  for (const p of paths) {
    const v = claimAt(claims, p);
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

function stringOf(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** A list claim: an array of strings, or one string (space- or comma-separated lists are not split: names may hold spaces). */
function listOf(v: unknown): string[] {
  if (typeof v === 'string') return v === '' ? [] : [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x !== '');
  return [];
}

const MAX_DELEGATION_DEPTH = 8;

/**
 * RFC 8693 §4.1: `act` names the current actor; a nested `act` inside it the
 * prior actor, and so on. Anything that is not an object ends the chain; the
 * depth is bounded so a hostile issuer cannot make the policy input unbounded.
 */
export function delegationChain(claims: Readonly<Record<string, unknown>>): Actor[] {
  const chain: Actor[] = [];
  let act = claims.act;
  while (act !== null && typeof act === 'object' && !Array.isArray(act) && chain.length < MAX_DELEGATION_DEPTH) {
    const a = act as Record<string, unknown>;
    chain.push({ sub: stringOf(a.sub), clientId: stringOf(a.client_id), iss: stringOf(a.iss) });
    act = a.act;
  }
  return chain;
}

/**
 * The identity of a verified token. The agent id is the subject; a token with
 * no subject (some client-credentials tokens) is its client's. `type` is
 * `service` when the token was issued to the client for itself (no subject,
 * or subject = client id), `user` otherwise (issued on a user's behalf).
 */
export function identityFromClaims(
  claims: Readonly<Record<string, unknown>>,
  mapping: ClaimMapping,
  hierarchy: ScopeHierarchy,
): Identity | undefined {
  const subject = stringOf(first(claims, mapping.subject));
  const clientId = stringOf(first(claims, mapping.clientId));
  const id = subject ?? clientId;
  if (id === undefined) return undefined;
  const teams = listOf(first(claims, mapping.teams));
  return Object.freeze({
    id,
    type: subject === undefined || subject === clientId ? 'service' : 'user',
    authenticated: true,
    authMethod: 'jwt',
    roles: Object.freeze(listOf(first(claims, mapping.roles))),
    team: teams[0],
    teams: Object.freeze(teams),
    tenant: stringOf(first(claims, mapping.tenant)),
    trustLevel: stringOf(first(claims, mapping.trustLevel)),
    environment: stringOf(first(claims, mapping.environment)),
    scopes: Object.freeze(expandScopes(scopesOf(first(claims, mapping.scopes)), hierarchy)),
    clientId,
    subject,
    issuer: stringOf(claims.iss),
    delegation: Object.freeze(delegationChain(claims)),
  });
}
