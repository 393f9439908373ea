/**
 * The identity stage: who is calling, for every entry point (the MCP
 * listener now; the authorization API and ext_authz later), built once from
 * the configuration.
 *
 * Credentials are examined in a fixed order, and one that is present but
 * wrong is refused, never downgraded to a weaker one:
 *   1. `Authorization: Bearer …`: an access token (JWT-shaped, when OAuth is
 *      configured) or an API key;
 *   2. `X-API-Key`;
 *   3. the mesh identity: the peer principal an ext_authz CheckRequest
 *      carries, or the mesh identity header; from a trusted proxy address only;
 *   4. the anonymous agent, when allowed.
 *
 * `resolve` answers synchronously whenever it can — API keys, mesh,
 * anonymous, and tokens verified before (one SHA-256 each) — and returns a
 * Promise only for a token it has not verified yet.
 *
 * It also answers for the OAuth resource-server role of MCP authorization:
 * the challenge of a refused request (`challenge`) and the Protected Resource
 * Metadata document (`servesMetadata`/`serveMetadata`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SarkConfig } from '../config/schema.ts';
import { ConfigError, SarkError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { ApiKeyStore } from './api-keys.ts';
import { type Challenge, challengeFor } from './challenge.ts';
import { type ClaimMapping, parseClaimPaths } from './claims.ts';
import { ANONYMOUS, type Identity, type IdentityContext } from './identity.ts';
import type { TokenVerifier } from './jwt.ts';
import { MeshIdentity } from './mesh.ts';
import { type ResourceMetadata, resourceMetadata, serveResourceMetadata } from './resource-metadata.ts';
import { parseScopeHierarchy, splitList } from './scopes.ts';
import { UpstreamToken } from './upstream-token.ts';

export type IdentityConfig = Pick<
  SarkConfig,
  | 'mcpPath'
  | 'allowAnonymous'
  | 'apiKeysFile'
  | 'apiKeys'
  | 'apiKeysDir'
  | 'apiKeysReloadIntervalMs'
  | 'meshIdentityHeader'
  | 'meshTrustedCidrs'
  | 'meshTrustDomain'
  | 'resourceUrl'
  | 'authorizationServers'
  | 'scopesSupported'
  | 'scopeHierarchy'
  | 'jwtIssuer'
  | 'jwtJwksUrl'
  | 'jwtKeyFile'
  | 'jwtAlgorithms'
  | 'jwtClockSkewSeconds'
  | 'jwtMaxAgeSeconds'
  | 'jwtType'
  | 'jwtJwksCooldownMs'
  | 'jwtJwksCacheMaxAgeMs'
  | 'jwtJwksTimeoutMs'
  | 'jwtCacheEntries'
  | 'jwtCacheMaxTtlMs'
  | 'jwtClaimSubject'
  | 'jwtClaimClientId'
  | 'jwtClaimScopes'
  | 'jwtClaimRoles'
  | 'jwtClaimTeams'
  | 'jwtClaimTenant'
  | 'jwtClaimTrustLevel'
  | 'jwtClaimEnvironment'
  | 'upstreamAuth'
  | 'upstreamTokenUrl'
  | 'upstreamClientId'
  | 'upstreamClientSecret'
  | 'upstreamTokenResource'
  | 'upstreamTokenScope'
  | 'upstreamTokenTimeoutMs'
>;

/** RFC 6750 §2.1: `Bearer` 1*SP b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** What the stage keeps about a caller's token, for token exchange only. */
interface TokenRef {
  readonly token: string;
  readonly digest: string;
}

/** The JWT verifier's modules (jose): jwt-support.ts, loaded only when jwtIssuer is set. */
export type JwtSupport = typeof import('./jwt-support.ts');

export class IdentityStage {
  readonly #allowAnonymous: boolean;
  readonly #apiKeys: ApiKeyStore | undefined;
  readonly #mesh: MeshIdentity | undefined;
  /** The peer principal ext_authz reports: a mesh identity taken as is (not XFCC), under the same trust rules. */
  readonly #peer: MeshIdentity;
  readonly #verifier: TokenVerifier | undefined;
  readonly #jwt: JwtSupport | undefined;
  readonly #metadata: ResourceMetadata | undefined;
  readonly #defaultScopes: readonly string[];
  readonly #upstream: UpstreamToken;
  readonly #warm: (() => Promise<void>) | undefined;
  readonly #logger: Logger | undefined;
  /** Caller tokens by identity object, kept only when they are exchanged for upstream tokens. */
  readonly #tokens: WeakMap<Identity, TokenRef> | undefined;

  /** `jwt`: required with jwtIssuer (loadIdentityStage loads it). */
  constructor(config: IdentityConfig, logger?: Logger, jwt?: JwtSupport) {
    this.#logger = logger;
    this.#jwt = jwt;
    this.#allowAnonymous = config.allowAnonymous;
    this.#apiKeys =
      config.apiKeysFile || config.apiKeys || config.apiKeysDir
        ? new ApiKeyStore({
            file: config.apiKeysFile,
            inline: config.apiKeys,
            dir: config.apiKeysDir,
            reloadIntervalMs: config.apiKeysReloadIntervalMs,
            logger,
          })
        : undefined;
    this.#mesh = config.meshIdentityHeader
      ? new MeshIdentity({
          header: config.meshIdentityHeader,
          trustedCidrs: splitList(config.meshTrustedCidrs),
          trustDomain: config.meshTrustDomain,
        })
      : undefined;
    this.#peer = new MeshIdentity({
      header: 'source.principal',
      trustedCidrs: splitList(config.meshTrustedCidrs),
      trustDomain: config.meshTrustDomain,
    });
    this.#defaultScopes = splitList(config.scopesSupported);
    const hierarchy = parseScopeHierarchy(config.scopeHierarchy);

    if (config.jwtIssuer !== undefined) {
      if (config.resourceUrl === undefined) {
        throw new ConfigError('resourceUrl: required with jwtIssuer (it is the audience tokens must name)');
      }
      if (jwt === undefined) throw new TypeError('jwtIssuer is set: pass the JWT support (loadIdentityStage loads it)');
      const keys = jwt.createKeys({
        jwksUrl: config.jwtJwksUrl,
        keyFile: config.jwtKeyFile,
        algorithms: splitList(config.jwtAlgorithms),
        cooldownMs: config.jwtJwksCooldownMs,
        cacheMaxAgeMs: config.jwtJwksCacheMaxAgeMs,
        timeoutMs: config.jwtJwksTimeoutMs,
      });
      this.#warm = keys.warm;
      const claims: ClaimMapping = {
        subject: parseClaimPaths('jwtClaimSubject', config.jwtClaimSubject),
        clientId: parseClaimPaths('jwtClaimClientId', config.jwtClaimClientId),
        scopes: parseClaimPaths('jwtClaimScopes', config.jwtClaimScopes),
        roles: parseClaimPaths('jwtClaimRoles', config.jwtClaimRoles),
        teams: parseClaimPaths('jwtClaimTeams', config.jwtClaimTeams),
        tenant: parseClaimPaths('jwtClaimTenant', config.jwtClaimTenant),
        trustLevel: parseClaimPaths('jwtClaimTrustLevel', config.jwtClaimTrustLevel),
        environment: parseClaimPaths('jwtClaimEnvironment', config.jwtClaimEnvironment),
      };
      this.#verifier = new jwt.TokenVerifier({
        keys: keys.source,
        algorithms: keys.algorithms,
        issuer: config.jwtIssuer,
        audience: config.resourceUrl,
        clockSkewSeconds: config.jwtClockSkewSeconds,
        maxAgeSeconds: config.jwtMaxAgeSeconds,
        type: config.jwtType,
        claims,
        hierarchy,
        cacheEntries: config.jwtCacheEntries,
        cacheMaxTtlMs: config.jwtCacheMaxTtlMs,
      });
    } else if (config.jwtJwksUrl || config.jwtKeyFile) {
      throw new ConfigError('jwtIssuer: required with jwtJwksUrl or jwtKeyFile');
    }
    if (config.resourceUrl !== undefined) {
      const servers = splitList(config.authorizationServers ?? config.jwtIssuer);
      this.#metadata = resourceMetadata({
        resource: config.resourceUrl,
        authorizationServers: servers,
        scopesSupported: this.#defaultScopes,
        mcpPath: config.mcpPath,
      });
    }
    this.#upstream = new UpstreamToken({
      mode: config.upstreamAuth,
      tokenUrl: config.upstreamTokenUrl,
      clientId: config.upstreamClientId,
      clientSecret: config.upstreamClientSecret,
      resource: config.upstreamTokenResource,
      scope: config.upstreamTokenScope,
      timeoutMs: config.upstreamTokenTimeoutMs,
      cacheEntries: Math.max(1, config.jwtCacheEntries),
    });
    if (config.upstreamAuth === 'token_exchange' && this.#verifier === undefined) {
      throw new ConfigError('upstreamAuth: token_exchange needs JWT verification (jwtIssuer)');
    }
    this.#tokens = config.upstreamAuth === 'token_exchange' ? new WeakMap() : undefined;
  }

  /** Who is calling. Throws (or rejects with) a SarkError for credentials that are wrong or missing. */
  resolve(ctx: IdentityContext): Identity | Promise<Identity> {
    const headers = ctx.headers;
    const auth = headers.authorization;
    if (auth !== undefined && auth.length > 0) {
      if (auth.length > 1) {
        throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'repeated Authorization header' });
      }
      const m = BEARER.exec(auth[0]!);
      if (!m) throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'unsupported Authorization scheme' });
      return this.#bearer(m[1]!);
    }
    const apiKey = headers['x-api-key'];
    if (apiKey !== undefined && apiKey.length > 0) {
      if (apiKey.length > 1) throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'repeated X-API-Key header' });
      return this.#apiKey(apiKey[0]!);
    }
    if (ctx.peerPrincipal !== undefined && ctx.peerPrincipal !== '') {
      // Reported by the proxy that terminated the caller's mTLS (ext_authz `source.principal`), not by the caller.
      return this.#peer.resolve([ctx.peerPrincipal], ctx.remoteAddress);
    }
    if (this.#mesh !== undefined) {
      const values = headers[this.#mesh.header];
      if (values !== undefined && values.length > 0) return this.#mesh.resolve(values, ctx.remoteAddress);
    }
    if (this.#allowAnonymous) return ANONYMOUS;
    throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'credentials required' });
  }

  #bearer(token: string): Identity | Promise<Identity> {
    const verifier = this.#verifier;
    const jwt = this.#jwt;
    if (verifier !== undefined && jwt !== undefined && jwt.looksLikeJwt(token)) {
      const digest = jwt.TokenVerifier.digest(token);
      const known = verifier.cached(digest);
      if (known !== undefined) return known;
      const tokens = this.#tokens;
      if (tokens === undefined) return verifier.verify(token, digest);
      return verifier.verify(token, digest).then((identity) => {
        tokens.set(identity, { token, digest });
        return identity;
      });
    }
    if (this.#apiKeys !== undefined) return this.#apiKey(token);
    // A bearer credential that is neither a token nor a key SARK knows.
    if (verifier !== undefined) throw new SarkError('SARK_TOKEN_INVALID', { detail: 'not a JWT' });
    throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'unknown credential' });
  }

  #apiKey(key: string): Identity {
    const found = this.#apiKeys?.lookup(key);
    if (found === undefined) throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'unknown credential' });
    return found;
  }

  /**
   * The status and `WWW-Authenticate` value for a refusal that is about
   * credentials (401) or scopes (403, SARK_INSUFFICIENT_SCOPE); undefined for
   * any other refusal.
   */
  challenge(err: SarkError, requiredScopes?: readonly string[]): Challenge | undefined {
    return challengeFor(
      err,
      { resourceMetadataUrl: this.#metadata?.url, defaultScopes: this.#defaultScopes, realm: 'sark' },
      requiredScopes,
    );
  }

  /** Whether `path` is a Protected Resource Metadata path SARK answers (OAuth configured only). */
  servesMetadata(path: string): boolean {
    return this.#metadata?.paths.has(path) === true;
  }

  /** Answers a Protected Resource Metadata request (after servesMetadata said yes). */
  serveMetadata(req: IncomingMessage, res: ServerResponse): void {
    serveResourceMetadata(this.#metadata!, req, res);
  }

  /** The Protected Resource Metadata URL named in challenges, when OAuth is configured. */
  get metadataUrl(): string | undefined {
    return this.#metadata?.url;
  }

  /**
   * The `Authorization` value to send upstream for this caller (upstreamAuth),
   * or undefined: the client's own header is never forwarded. Rejects with
   * SARK_UPSTREAM_UNAVAILABLE when no token could be obtained.
   */
  upstreamAuthorization(identity: Identity): string | Promise<string> | undefined {
    if (!this.#upstream.enabled) return undefined;
    const ref = this.#tokens?.get(identity);
    return this.#upstream.authorization(ref?.token, ref?.digest);
  }

  /** Fetches the JWKS once at start-up; an unreachable issuer is logged, not fatal (requests fail closed). */
  async warm(): Promise<void> {
    if (this.#warm === undefined) return;
    try {
      await this.#warm();
    } catch (err) {
      this.#logger?.warn(
        { detail: (err as Error).message },
        'JWKS not reachable at start-up: tokens are refused until it is',
      );
    }
  }

  /** What is enabled, for the start-up log line. */
  describe(): Record<string, unknown> {
    return {
      jwt: this.#verifier !== undefined,
      apiKeys: this.#apiKeys?.size ?? 0,
      mesh: this.#mesh?.header ?? false,
      anonymous: this.#allowAnonymous,
      resourceMetadata: this.#metadata?.url ?? false,
    };
  }

  close(): void {
    this.#apiKeys?.close();
  }
}

/**
 * Builds the identity stage; throws a ConfigError at start-up for anything
 * inconsistent (no issuer for a key source, HMAC next to public keys, a bad
 * CIDR, an unreadable key file, …).
 *
 * @example
 * const identity = createIdentityStage(config, logger);
 * const who = await identity.resolve({ headers: req.headersDistinct, remoteAddress: req.socket.remoteAddress, path });
 */
export function createIdentityStage(config: IdentityConfig, logger?: Logger, jwt?: JwtSupport): IdentityStage {
  return new IdentityStage(config, logger, jwt);
}

/** createIdentityStage with the JWT support imported first when jwtIssuer is set (start-up loads only what is configured). */
export async function loadIdentityStage(config: IdentityConfig, logger?: Logger): Promise<IdentityStage> {
  const jwt = config.jwtIssuer !== undefined ? await import('./jwt-support.ts') : undefined;
  return new IdentityStage(config, logger, jwt);
}
