/**
 * Bearer access tokens (JWT, RFC 9068 profile) verified with jose.
 *
 * Checked: signature with an allowed algorithm (jwks.ts), `iss` equal to the
 * configured issuer, `aud` naming this resource (RFC 8707 §2; MCP
 * authorization "Token Handling": tokens issued for another server MUST NOT
 * be accepted), `exp` present and in the future, `nbf` and `iat` not in the
 * future — each within `clockSkewSeconds` — and optionally the `typ` header
 * (`at+jwt`, RFC 9068 §4) and a maximum token age.
 *
 * A verified token is remembered by its SHA-256 digest until it expires
 * (bounded in entries and by `cacheMaxTtlMs`, so a key removed from the JWKS
 * stops being honoured within that time): a warm agent costs one hash per
 * call and no signature check.
 */
import { hash } from 'node:crypto';
import { errors as joseErrors, jwtVerify } from 'jose';
import { SarkError } from '../errors.ts';
import { type ClaimMapping, identityFromClaims } from './claims.ts';
import type { Identity } from './identity.ts';
import type { KeySource } from './jwks.ts';
import type { ScopeHierarchy } from './scopes.ts';

export interface TokenVerifierOptions {
  readonly keys: KeySource;
  readonly algorithms: readonly string[];
  readonly issuer: string;
  /** This resource's canonical URI (resourceUrl): the audience a token must name. */
  readonly audience: string;
  readonly clockSkewSeconds: number;
  /** When set, tokens older than this (by `iat`) are refused. */
  readonly maxAgeSeconds: number | undefined;
  /** When set, the JWT `typ` header must equal it (e.g. at+jwt). */
  readonly type: string | undefined;
  readonly claims: ClaimMapping;
  readonly hierarchy: ScopeHierarchy;
  readonly cacheEntries: number;
  readonly cacheMaxTtlMs: number;
}

interface Verified {
  readonly identity: Identity;
  /** Epoch ms after which the entry is verified again (or refused). */
  readonly until: number;
}

/** Structural JWS compact form: three base64url parts; anything else is not a JWT (maybe an API key). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export function looksLikeJwt(token: string): boolean {
  return COMPACT_JWS.test(token) && token.startsWith('eyJ');
}

/**
 * The audiences a token may name for this resource: the configured URI as
 * given, with and without a trailing slash, and with scheme and host in lower
 * case (MCP authorization, "Canonical Server URI": servers SHOULD accept
 * upper-case scheme and host).
 */
export function acceptedAudiences(resource: string): string[] {
  const out = new Set<string>([resource]);
  const url = new URL(resource);
  const canonical = `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}${url.search}`;
  for (const v of [canonical, resource]) {
    out.add(v.endsWith('/') ? v.slice(0, -1) : `${v}/`);
    out.add(v);
  }
  return [...out];
}

/** jose's verdict → a catalogue error; the token itself never appears in it. */
export function tokenError(err: unknown): SarkError {
  if (err instanceof joseErrors.JWTExpired) {
    return new SarkError('SARK_TOKEN_EXPIRED', { detail: err.message, cause: err });
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud') {
    return new SarkError('SARK_TOKEN_AUDIENCE', { detail: err.message, cause: err });
  }
  if (
    err instanceof joseErrors.JWKSTimeout ||
    err instanceof joseErrors.JWKSInvalid ||
    !(err instanceof joseErrors.JOSEError) ||
    err.code === joseErrors.JOSEError.code
  ) {
    // The key set could not be fetched or parsed: nobody can tell whether the token is good.
    return new SarkError('SARK_TOKEN_KEYS_UNAVAILABLE', { detail: (err as Error)?.message, cause: err });
  }
  return new SarkError('SARK_TOKEN_INVALID', { detail: err.message, cause: err });
}

export class TokenVerifier {
  readonly #options: TokenVerifierOptions;
  readonly #audiences: string[];
  readonly #cache = new Map<string, Verified>();

  constructor(options: TokenVerifierOptions) {
    this.#options = options;
    this.#audiences = acceptedAudiences(options.audience);
  }

  static digest(token: string): string {
    // One-shot crypto.hash: about twice as fast as createHash for a token-sized input.
    return hash('sha256', token, 'base64url');
  }

  /** A remembered identity for this digest, if still valid; undefined sends the caller to verify(). */
  cached(digest: string, now = Date.now()): Identity | undefined {
    const hit = this.#cache.get(digest);
    if (hit === undefined) return undefined;
    if (now < hit.until) return hit.identity;
    this.#cache.delete(digest);
    return undefined;
  }

  /** Verifies a token and maps its claims. Rejects with SARK_TOKEN_* errors. */
  async verify(token: string, digest: string): Promise<Identity> {
    const o = this.#options;
    let payload: Record<string, unknown>;
    try {
      const result = await jwtVerify(token, o.keys as Parameters<typeof jwtVerify>[1], {
        issuer: o.issuer,
        audience: this.#audiences,
        algorithms: [...o.algorithms],
        clockTolerance: o.clockSkewSeconds,
        requiredClaims: ['exp', 'iss', 'aud'],
        ...(o.maxAgeSeconds === undefined ? {} : { maxTokenAge: o.maxAgeSeconds }),
        ...(o.type === undefined ? {} : { typ: o.type }),
      });
      payload = result.payload as Record<string, unknown>;
    } catch (err) {
      throw tokenError(err);
    }
    const now = Date.now();
    // jose checks iat only with maxTokenAge; a token issued in the future is not valid yet either.
    if (typeof payload.iat === 'number' && payload.iat * 1000 > now + o.clockSkewSeconds * 1000) {
      throw new SarkError('SARK_TOKEN_INVALID', { detail: 'iat is in the future' });
    }
    const identity = identityFromClaims(payload, o.claims, o.hierarchy);
    if (identity === undefined) {
      throw new SarkError('SARK_TOKEN_INVALID', { detail: 'the token names neither a subject nor a client' });
    }
    const until = Math.min((payload.exp as number) * 1000, now + o.cacheMaxTtlMs);
    if (o.cacheEntries > 0 && until > now) {
      if (this.#cache.size >= o.cacheEntries) this.#evict();
      this.#cache.set(digest, { identity, until });
    }
    return identity;
  }

  /** Drops the oldest entry (Map order is insertion order; tokens of one issuer live alike, so oldest ≈ soonest to expire). */
  #evict(): void {
    const oldest = this.#cache.keys().next().value;
    if (oldest !== undefined) this.#cache.delete(oldest);
  }

  get cacheSize(): number {
    return this.#cache.size;
  }
}
