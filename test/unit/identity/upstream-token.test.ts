/**
 * The upstream's own token against a loopback token endpoint: the RFC 8693
 * and client-credentials requests as sent, caching until expiry (one request
 * for concurrent misses), and a failing endpoint as SARK_UPSTREAM_UNAVAILABLE.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SarkError } from '../../../src/errors.ts';
import { UpstreamToken } from '../../../src/identity/upstream-token.ts';

describe('upstream token', () => {
  let server: Server;
  let url: string;
  const requests: { auth: string | undefined; form: URLSearchParams }[] = [];
  let answer: { status: number; body: unknown } = { status: 200, body: {} };
  let issued = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        requests.push({ auth: req.headers.authorization, form: new URLSearchParams(body) });
        const payload =
          answer.status === 200
            ? { access_token: `up-${++issued}`, token_type: 'Bearer', expires_in: 600 }
            : answer.body;
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const base = {
    clientId: 'sark',
    clientSecret: 's3cr:t',
    resource: 'https://up.example/mcp',
    scope: 'files:read',
    timeoutMs: 2000,
    cacheEntries: 10,
  };

  it('exchanges the caller token (RFC 8693) and caches per caller', async () => {
    requests.length = 0;
    const t = new UpstreamToken({ ...base, mode: 'token_exchange', tokenUrl: url });
    const [a, b] = await Promise.all([t.authorization('caller-token', 'd1'), t.authorization('caller-token', 'd1')]);
    expect(a).toBe(b);
    expect(t.authorization('caller-token', 'd1')).toBe(a);
    expect(requests).toHaveLength(1);
    const { auth, form } = requests[0]!;
    expect(auth).toBe(`Basic ${Buffer.from('sark:s3cr%3At').toString('base64')}`);
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: 'caller-token',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'https://up.example/mcp',
      resource: 'https://up.example/mcp',
      scope: 'files:read',
    });
    expect(await t.authorization('other-token', 'd2')).not.toBe(a);
    expect(t.authorization(undefined, undefined)).toBeUndefined();
  });

  it('client credentials: one token for every caller', async () => {
    requests.length = 0;
    const t = new UpstreamToken({ ...base, mode: 'client_credentials', tokenUrl: url });
    const a = await t.authorization(undefined, undefined);
    expect(a).toMatch(/^Bearer up-\d+$/);
    expect(t.authorization('x', 'y')).toBe(a);
    expect(requests[0]!.form.get('grant_type')).toBe('client_credentials');
  });

  it('a failing token endpoint is SARK_UPSTREAM_UNAVAILABLE, without the secret in the message', async () => {
    answer = { status: 400, body: { error: 'invalid_grant' } };
    try {
      const t = new UpstreamToken({ ...base, mode: 'client_credentials', tokenUrl: url });
      const err = (await Promise.resolve(t.authorization(undefined, undefined)).catch((e) => e)) as SarkError;
      expect(err.code).toBe('SARK_UPSTREAM_UNAVAILABLE');
      expect(err.message).toContain('invalid_grant');
      expect(err.message).not.toContain('s3cr');
    } finally {
      answer = { status: 200, body: {} };
    }
    const down = new UpstreamToken({ ...base, mode: 'client_credentials', tokenUrl: 'http://127.0.0.1:1/token' });
    await expect(Promise.resolve(down.authorization(undefined, undefined))).rejects.toMatchObject({
      code: 'SARK_UPSTREAM_UNAVAILABLE',
    });
  });
});
