/**
 * The identity the policy sees: who is calling, how SARK established it, and
 * what the caller was granted. Built by the identity stage (stage.ts) from an
 * access token, an API key, a mesh peer certificate, or nobody (anonymous);
 * never from anything the client merely claims.
 */

/** How the caller was authenticated. `none`: the anonymous agent. */
export type AuthMethod = 'jwt' | 'api_key' | 'mesh' | 'none';

/**
 * One actor of a delegation chain (RFC 8693 §4.1 `act`): the party acting on
 * behalf of the subject. The first entry is the current actor, the next one
 * the actor it acted for, and so on.
 */
export interface Actor {
  readonly sub: string | undefined;
  readonly clientId: string | undefined;
  readonly iss: string | undefined;
}

export interface Identity {
  /** The agent id the policy keys on: the token subject, the API key's agentId, the SPIFFE ID. */
  readonly id: string;
  readonly type: 'agent' | 'user' | 'service' | 'anonymous';
  readonly authenticated: boolean;
  readonly authMethod: AuthMethod;
  readonly roles: readonly string[];
  /** The primary team (the first of `teams`). */
  readonly team?: string | undefined;
  readonly teams: readonly string[];
  readonly tenant?: string | undefined;
  readonly trustLevel?: string | undefined;
  readonly environment?: string | undefined;
  /** OAuth scopes granted, with every scope they imply under the configured hierarchy; empty for other methods. */
  readonly scopes: readonly string[];
  /** The OAuth client the token was issued to (may be an HTTPS URL: Client ID Metadata Documents). */
  readonly clientId?: string | undefined;
  /** The token subject (`sub`), when the identity came from a token. */
  readonly subject?: string | undefined;
  /** The token issuer (`iss`). */
  readonly issuer?: string | undefined;
  /** Who acts for the subject, outermost first (RFC 8693 `act`); empty when nobody does. */
  readonly delegation: readonly Actor[];
}

const EMPTY: readonly never[] = Object.freeze([]);

export const ANONYMOUS: Identity = Object.freeze({
  id: 'anonymous',
  type: 'anonymous',
  authenticated: false,
  authMethod: 'none',
  roles: Object.freeze(['anonymous']),
  teams: EMPTY,
  scopes: EMPTY,
  delegation: EMPTY,
});

/** Where a request came from and what it carries: all the identity stage reads. */
export interface IdentityContext {
  readonly headers: Readonly<Record<string, string[] | undefined>>;
  /** The TCP peer address (req.socket.remoteAddress). */
  readonly remoteAddress: string | undefined;
  /** The request path (without query). */
  readonly path: string;
  /**
   * The peer identity the transport itself reports, for entry points where
   * SARK is asked about a connection another proxy terminated: Envoy
   * ext_authz's `source.principal` (the SPIFFE ID from the downstream mTLS
   * certificate). Believed like the mesh identity header: only when
   * `remoteAddress` — then the proxy that asks — is in `meshTrustedCidrs`.
   */
  readonly peerPrincipal?: string | undefined;
}

/** Frozen empty list for identities that have none. */
export function none<T>(): readonly T[] {
  return EMPTY;
}
