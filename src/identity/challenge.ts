/**
 * The `WWW-Authenticate` challenge of a refused request (RFC 6750 §3, RFC
 * 9728 §5.1, MCP authorization "Error Handling"):
 *
 *   401, no or unusable credentials:
 *     Bearer resource_metadata="…", scope="…"
 *   401, a bearer token that is invalid or expired:
 *     Bearer error="invalid_token", error_description="…", resource_metadata="…", scope="…"
 *   403, a valid token without the scopes the operation needs (step-up):
 *     Bearer error="insufficient_scope", scope="…", resource_metadata="…", error_description="…"
 *
 * Every value is an RFC 9110 §5.6.4 quoted-string; scope lists never name
 * `offline_access`.
 */
import type { SarkError } from '../errors.ts';
import { challengeScopes } from './scopes.ts';

export interface Challenge {
  readonly status: number;
  readonly wwwAuthenticate: string;
}

export interface ChallengeOptions {
  /** The Protected Resource Metadata URL; undefined when OAuth is not configured. */
  readonly resourceMetadataUrl: string | undefined;
  /** Scopes named in a 401 challenge: what basic access needs (scopesSupported). */
  readonly defaultScopes: readonly string[];
  /** The realm, when no OAuth metadata is configured (API keys only). */
  readonly realm: string;
}

/** RFC 9110 §5.6.4: a quoted-string, with `"` and `\` escaped; controls other than tab dropped. */
export function quoted(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: dropping them is the point
  return `"${value.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '').replace(/["\\]/g, '\\$&')}"`;
}

const TOKEN_ERRORS = new Set(['SARK_TOKEN_INVALID', 'SARK_TOKEN_EXPIRED', 'SARK_TOKEN_AUDIENCE']);

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  SARK_TOKEN_INVALID: 'the access token is invalid',
  SARK_TOKEN_EXPIRED: 'the access token has expired',
  SARK_TOKEN_AUDIENCE: 'the access token was not issued for this resource',
  SARK_INSUFFICIENT_SCOPE: 'the access token lacks scopes this operation requires',
};

/**
 * The challenge for a refusal, or undefined when the refusal is not about
 * credentials (a policy deny, a parse error, …). `requiredScopes` are the
 * policy's, for SARK_INSUFFICIENT_SCOPE: all of them, in one challenge.
 */
export function challengeFor(
  err: SarkError,
  options: ChallengeOptions,
  requiredScopes: readonly string[] = [],
): Challenge | undefined {
  const params: string[] = [];
  if (err.code === 'SARK_INSUFFICIENT_SCOPE') {
    params.push('error="insufficient_scope"');
    const scopes = challengeScopes(requiredScopes);
    if (scopes.length > 0) params.push(`scope=${quoted(scopes.join(' '))}`);
    if (options.resourceMetadataUrl) params.push(`resource_metadata=${quoted(options.resourceMetadataUrl)}`);
    params.push(`error_description=${quoted(DESCRIPTIONS[err.code]!)}`);
    return { status: 403, wwwAuthenticate: `Bearer ${params.join(', ')}` };
  }
  if (err.kind.httpStatus !== 401) return undefined;
  if (TOKEN_ERRORS.has(err.code)) {
    params.push('error="invalid_token"', `error_description=${quoted(DESCRIPTIONS[err.code]!)}`);
  }
  if (options.resourceMetadataUrl) {
    params.push(`resource_metadata=${quoted(options.resourceMetadataUrl)}`);
    const scopes = challengeScopes(options.defaultScopes);
    if (scopes.length > 0) params.push(`scope=${quoted(scopes.join(' '))}`);
  } else {
    params.unshift(`realm=${quoted(options.realm)}`);
  }
  return { status: 401, wwwAuthenticate: `Bearer ${params.join(', ')}` };
}
