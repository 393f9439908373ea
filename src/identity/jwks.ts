/**
 * Where token signing keys come from, and which algorithms they may sign with.
 *
 * - A JWKS URL (the authorization server's `jwks_uri`): jose's remote key
 *   set, cached for `cacheMaxAgeMs`, fetched again at once when a token names
 *   a `kid` the cache lacks (the issuer rotated its keys: no restart needed),
 *   but at most once per `cooldownMs`, so tokens with made-up key ids cannot
 *   turn SARK into a request amplifier against the authorization server.
 * - A static key file: a JWKS document, or one PEM public key.
 *
 * Algorithms (RFC 8725 §3.1, §3.2): an explicit allow-list; `none` is never
 * accepted, and HMAC algorithms only with a key file that holds nothing but
 * symmetric keys — never next to public keys, where "the public key as an
 * HMAC secret" would be the classic confusion.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ConfigError } from '../errors.ts';

export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
const KNOWN = new Set<string>([...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS]);
const HMAC = new Set<string>(HMAC_ALGORITHMS);

export type KeySource = JWTVerifyGetKey | KeyObject;

export interface KeySourceOptions {
  readonly jwksUrl?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly algorithms: readonly string[];
  readonly cooldownMs: number;
  readonly cacheMaxAgeMs: number;
  readonly timeoutMs: number;
}

export interface Keys {
  readonly source: KeySource;
  readonly algorithms: readonly string[];
  /** Fetches the remote key set now (start-up warm-up); undefined for a key file. */
  readonly warm: (() => Promise<void>) | undefined;
}

/** Validates the allow-list against the key source and builds the key lookup. Throws ConfigError. */
export function createKeys(options: KeySourceOptions): Keys {
  if ((options.jwksUrl === undefined) === (options.keyFile === undefined)) {
    throw new ConfigError('JWT verification needs exactly one of jwtJwksUrl or jwtKeyFile');
  }
  const algorithms = [...new Set(options.algorithms)];
  for (const alg of algorithms) {
    if (alg.toLowerCase() === 'none') throw new ConfigError('jwtAlgorithms: "none" is never accepted');
    if (!KNOWN.has(alg)) throw new ConfigError(`jwtAlgorithms: unknown JWS algorithm "${alg}"`);
  }
  if (algorithms.length === 0) throw new ConfigError('jwtAlgorithms: the list is empty');
  const hmac = algorithms.filter((a) => HMAC.has(a));

  if (options.jwksUrl !== undefined) {
    if (hmac.length > 0) {
      throw new ConfigError(
        `jwtAlgorithms: ${hmac.join(', ')} (HMAC) cannot be verified with a JWKS URL of public keys`,
      );
    }
    const set = createRemoteJWKSet(new URL(options.jwksUrl), {
      cooldownDuration: options.cooldownMs,
      cacheMaxAge: options.cacheMaxAgeMs,
      timeoutDuration: options.timeoutMs,
    });
    return { source: set, algorithms, warm: () => set.reload() };
  }

  const file = options.keyFile!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`jwtKeyFile (${file}): cannot read: ${(err as Error).message}`);
  }
  if (text.includes('-----BEGIN')) {
    if (hmac.length > 0) throw new ConfigError(`jwtAlgorithms: ${hmac.join(', ')} (HMAC) next to a PEM public key`);
    try {
      return { source: createPublicKey(text), algorithms, warm: undefined };
    } catch (err) {
      throw new ConfigError(`jwtKeyFile (${file}): not a PEM public key: ${(err as Error).message}`);
    }
  }
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(text) as JSONWebKeySet;
    if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) throw new Error('no "keys" array');
  } catch (err) {
    throw new ConfigError(`jwtKeyFile (${file}): not a JWKS document: ${(err as Error).message}`);
  }
  const kinds = new Set(jwks.keys.map((k) => k.kty));
  if (jwks.keys.some((k) => 'd' in k || (k.kty !== 'oct' && 'k' in k))) {
    throw new ConfigError(`jwtKeyFile (${file}): holds private key material; give the public keys only`);
  }
  if (kinds.has('oct') && kinds.size > 1) {
    throw new ConfigError(`jwtKeyFile (${file}): mixes symmetric (oct) and public keys`);
  }
  if (kinds.has('oct') ? hmac.length !== algorithms.length : hmac.length > 0) {
    throw new ConfigError(
      kinds.has('oct')
        ? 'jwtAlgorithms: a key file of symmetric keys verifies HS256/HS384/HS512 only'
        : `jwtAlgorithms: ${hmac.join(', ')} (HMAC) next to public keys`,
    );
  }
  try {
    return { source: createLocalJWKSet(jwks), algorithms, warm: undefined };
  } catch (err) {
    throw new ConfigError(`jwtKeyFile (${file}): ${(err as Error).message}`);
  }
}
