/**
 * A real OAuth 2.1 authorization server for tests: oidc-provider (OpenID
 * certified) on a loopback ephemeral port, with what the MCP authorization
 * flow needs — dynamic client registration, authorization code with PKCE,
 * resource indicators (RFC 8707) and JWT access tokens (RFC 9068) whose
 * audience is the requested resource — plus client credentials for service
 * tokens. A "user" who signs in as `alice` and consents to every scope asked
 * is played by `authorize()`, which follows the redirects with a cookie jar.
 *
 * Signing keys live in memory; `rotateKeys()` restarts the server on the same
 * port and issuer with new keys only (the old key ids disappear from its
 * JWKS), as an issuer's key rotation looks to a resource server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { freePort } from './services.ts';

export const RESOURCE_SCOPES = 'mcp:tools time:read files:read files:write';

export interface ServiceClient {
  readonly id: string;
  readonly secret: string;
}

export interface AuthorizationServer {
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly tokenUrl: string;
  /** A confidential client allowed client_credentials (tokens live 10 minutes). */
  readonly service: ServiceClient;
  /** The same, with tokens that live 1 second. */
  readonly shortLived: ServiceClient;
  /** Key ids currently published. */
  kids(): string[];
  /** Plays the user at an authorization URL: signs in, consents, returns the code sent to redirectUri. */
  authorize(url: string | URL, redirectUri: string): Promise<string>;
  /** The same, returning the whole callback (code and RFC 9207 iss). */
  authorizeCallback(url: string | URL, redirectUri: string): Promise<URL>;
  /** A client-credentials token for `resource` (RFC 8707). */
  clientCredentials(client: ServiceClient, resource: string, scope: string): Promise<string>;
  /** Restarts with new signing keys; the old ones are withdrawn. */
  rotateKeys(): Promise<void>;
  close(): Promise<void>;
}

let generation = 0;

async function signingKeys(): Promise<JWK[]> {
  generation++;
  const out: JWK[] = [];
  for (const alg of ['ES256', 'RS256'] as const) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    out.push({ ...(await exportJWK(privateKey)), kid: `${alg.toLowerCase()}-gen${generation}`, alg, use: 'sig' });
  }
  return out;
}

function configuration(keys: JWK[], service: ServiceClient, shortLived: ServiceClient): Record<string, unknown> {
  return {
    jwks: { keys },
    cookies: { keys: ['sark-test-cookie-key'] },
    clients: [
      {
        client_id: service.id,
        client_secret: service.secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
      },
      {
        client_id: shortLived.id,
        client_secret: shortLived.secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
      },
    ],
    scopes: ['openid', 'offline_access', ...RESOURCE_SCOPES.split(' ')],
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string[]) => oneOf?.[0],
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, resource: string, client: { clientId: string }) => ({
          scope: RESOURCE_SCOPES,
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: client.clientId === shortLived.id ? 1 : 600,
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    pkce: { required: () => true },
    ttl: {
      AccessToken: 600,
      ClientCredentials: (_ctx: unknown, _token: unknown, client: { clientId: string }) =>
        client.clientId === shortLived.id ? 1 : 600,
      Grant: 3600,
      Interaction: 600,
      Session: 3600,
    },
    issueRefreshToken: async () => false,
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id }) }),
    // What the policy maps to the agent: the demo roles (claims.ts reads `roles`).
    extraTokenClaims: async () => ({ roles: ['developer'], tenant: 'acme' }),
  };
}

/** The "user": signs in as alice and grants every scope the request asks for. */
async function interact(provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: 'alice' } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant =
    (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ??
    new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id! });
  const missing = details.prompt.details as {
    missingOIDCScope?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { consent: details.grantId ? {} : { grantId } },
    { mergeWithLastSubmission: true },
  );
}

/**
 * Dynamic registration, without the `scope` the SDK sends (its first
 * challenge's): oidc-provider would otherwise restrict the client to those
 * scopes for good, and refuse the step-up to more. Many authorization
 * servers ignore a registration's scope; this one is made to.
 */
function registerWithoutScope(
  req: IncomingMessage,
  res: ServerResponse,
  callback: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let metadata: Record<string, unknown>;
    try {
      metadata = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    delete metadata.scope;
    // oidc-provider reads an already-consumed body from req.body.
    (req as IncomingMessage & { body?: unknown }).body = metadata;
    callback(req, res);
  });
}

export async function startAuthorizationServer(): Promise<AuthorizationServer> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const service = { id: 'sark-test-service', secret: 'service-secret-0123456789' };
  const shortLived = { id: 'sark-test-short', secret: 'short-secret-0123456789' };
  let keys = await signingKeys();
  let server: Server;

  async function start(): Promise<void> {
    const provider = new Provider(issuer, configuration(keys, service, shortLived));
    const callback = provider.callback();
    server = createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/reg') {
        registerWithoutScope(req, res, callback);
        return;
      }
      if (req.url?.startsWith('/interaction/')) {
        interact(provider, req, res).catch((err) => {
          res.writeHead(500).end(String(err));
        });
        return;
      }
      callback(req, res);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  }

  async function stop(): Promise<void> {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async function authorizeCallback(url: string | URL, redirectUri: string): Promise<URL> {
    const jar = new Map<string, string>();
    let next = new URL(url);
    for (let hop = 0; hop < 12; hop++) {
      const res = await fetch(next, {
        redirect: 'manual',
        headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      for (const c of res.headers.getSetCookie()) {
        const pair = c.split(';')[0]!;
        const eq = pair.indexOf('=');
        const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
        if (value === '') jar.delete(name);
        else jar.set(name, value);
      }
      const body = await res.text();
      const location = res.headers.get('location');
      if (!location)
        throw new Error(`authorization stopped at ${next.pathname} with ${res.status}: ${body.slice(0, 300)}`);
      next = new URL(location, next);
      if (next.href.startsWith(redirectUri)) {
        if (!next.searchParams.get('code')) throw new Error(`authorization refused: ${next.search}`);
        return next;
      }
    }
    throw new Error('too many redirects');
  }

  await start();
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    tokenUrl: `${issuer}/token`,
    service,
    shortLived,
    kids: () => keys.map((k) => k.kid!),
    async authorize(url, redirectUri) {
      return (await authorizeCallback(url, redirectUri)).searchParams.get('code')!;
    },
    authorizeCallback,
    async clientCredentials(client, resource, scope) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }).toString(),
      });
      const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!json.access_token) throw new Error(`token endpoint: ${res.status} ${json.error} ${json.error_description}`);
      return json.access_token;
    },
    async rotateKeys() {
      await stop();
      keys = await signingKeys();
      await start();
    },
    close: stop,
  };
}
