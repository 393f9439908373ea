/**
 * What JWT verification needs, in one module so that it loads only when
 * jwtIssuer is set: jose and its key sets cost every sidecar that takes only
 * API keys or mesh identities about 60 modules at start-up (issue 19's idle
 * RSS). `loadIdentityStage` (stage.ts) imports it on demand.
 */
export { createKeys } from './jwks.ts';
export { looksLikeJwt, TokenVerifier } from './jwt.ts';
