/**
 * The upstream's own credential. MCP authorization ("Token Handling",
 * "Access Token Privilege Restriction"): a server MUST NOT pass the client's
 * token through to another service, so the client's `Authorization` never
 * reaches the MCP server behind SARK (forward/upstream.ts drops it). When the
 * server needs a token of its own, SARK can get one (off by default):
 *
 * - `client_credentials` (OAuth 2.1 §4.2): one token for SARK itself, shared
 *   by every call;
 * - `token_exchange` (RFC 8693): for a caller with an access token, a token
 *   for the upstream (`audience`/`resource`) on the caller's behalf, the
 *   caller's token as `subject_token`; the issuer records SARK as the actor.
 *   Callers without one (API key, mesh, anonymous) get no upstream token.
 *
 * Tokens are cached until shortly before `expires_in` (one per caller for
 * token exchange, bounded), and concurrent misses share one request.
 */
import { request } from 'undici';
import { ConfigError, SarkError } from '../errors.ts';

export type UpstreamAuthMode = 'none' | 'client_credentials' | 'token_exchange';

export interface UpstreamTokenOptions {
  readonly mode: UpstreamAuthMode;
  readonly tokenUrl: string | undefined;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  /** RFC 8707 resource / RFC 8693 audience of the upstream token. */
  readonly resource: string | undefined;
  readonly scope: string | undefined;
  readonly timeoutMs: number;
  /** Most cached exchanged tokens. */
  readonly cacheEntries: number;
}

interface Cached {
  readonly header: string;
  readonly until: number;
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Refresh this long before expiry, so a token never expires on its way upstream. */
const EARLY_MS = 30_000;
const SHARED = '';

export class UpstreamToken {
  readonly #o: UpstreamTokenOptions;
  readonly #cache = new Map<string, Cached>();
  readonly #pending = new Map<string, Promise<string>>();

  constructor(options: UpstreamTokenOptions) {
    this.#o = options;
    if (options.mode === 'none') return;
    if (!options.tokenUrl || !/^https?:\/\//.test(options.tokenUrl)) {
      throw new ConfigError(`upstreamTokenUrl: required as an http(s) URL when upstreamAuth is ${options.mode}`);
    }
    if (!options.clientId || !options.clientSecret) {
      throw new ConfigError(`upstreamClientId and upstreamClientSecret: required when upstreamAuth is ${options.mode}`);
    }
  }

  get enabled(): boolean {
    return this.#o.mode !== 'none';
  }

  /**
   * The Authorization value for the upstream request, or undefined when none
   * applies. `subjectToken`/`subjectDigest`: the caller's access token and its
   * digest (token exchange only).
   */
  authorization(
    subjectToken: string | undefined,
    subjectDigest: string | undefined,
  ): string | Promise<string> | undefined {
    if (this.#o.mode === 'none') return undefined;
    if (this.#o.mode === 'token_exchange' && (subjectToken === undefined || subjectDigest === undefined))
      return undefined;
    const key = this.#o.mode === 'client_credentials' ? SHARED : subjectDigest!;
    const hit = this.#cache.get(key);
    if (hit && Date.now() < hit.until) return hit.header;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#fetch(key, subjectToken).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #fetch(key: string, subjectToken: string | undefined): Promise<string> {
    const o = this.#o;
    const form = new URLSearchParams();
    if (o.mode === 'client_credentials') {
      form.set('grant_type', 'client_credentials');
    } else {
      form.set('grant_type', TOKEN_EXCHANGE);
      form.set('subject_token', subjectToken!);
      form.set('subject_token_type', ACCESS_TOKEN_TYPE);
      form.set('requested_token_type', ACCESS_TOKEN_TYPE);
      if (o.resource) form.set('audience', o.resource);
    }
    if (o.resource) form.set('resource', o.resource);
    if (o.scope) form.set('scope', o.scope);
    // RFC 6749 §2.3.1: client_secret_basic, each part form-url-encoded first.
    const basic = Buffer.from(`${encodeURIComponent(o.clientId!)}:${encodeURIComponent(o.clientSecret!)}`).toString(
      'base64',
    );
    let status: number;
    let body: unknown;
    try {
      const res = await request(o.tokenUrl!, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          authorization: `Basic ${basic}`,
        },
        body: form.toString(),
        headersTimeout: o.timeoutMs,
        bodyTimeout: o.timeoutMs,
      });
      status = res.statusCode;
      body = await res.body.json().catch(() => undefined);
    } catch (err) {
      throw new SarkError('SARK_UPSTREAM_UNAVAILABLE', {
        detail: `upstream token endpoint: ${(err as Error).message}`,
        cause: err,
      });
    }
    const t = body as { access_token?: unknown; expires_in?: unknown; error?: unknown } | undefined;
    if (status !== 200 || typeof t?.access_token !== 'string' || t.access_token === '') {
      throw new SarkError('SARK_UPSTREAM_UNAVAILABLE', {
        detail: `upstream token endpoint answered ${status}${typeof t?.error === 'string' ? ` (${t.error})` : ''}`,
      });
    }
    // Bearer only: a DPoP-bound token would need a proof SARK does not make.
    const header = `Bearer ${t.access_token}`;
    const lifeMs = typeof t.expires_in === 'number' && t.expires_in > 0 ? t.expires_in * 1000 : 60_000;
    const until = Date.now() + Math.max(lifeMs - EARLY_MS, lifeMs / 2);
    if (this.#cache.size >= o.cacheEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, { header, until });
    return header;
  }
}
