/**
 * Attacks a per-pod proxy meets, against real SDK servers (issue 14):
 * session hijacking (a 2025 session is bound to the principal that opened
 * it, in-process and through Redis across replicas), DNS rebinding (Host and
 * Origin), headers the client's Connection header names, and a compressed
 * body forwarded with headers that describe what SARK actually sends.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../src/sidecar.ts';
import { auditFileRows, until } from '../support/audit-events.ts';
import { type CatalogServer, startCatalogServer } from '../support/catalog-server.ts';
import { type RawUpstream, startRawUpstream } from '../support/raw-upstream.ts';
import { type Service, startRedis } from '../support/services.ts';
import { connectV1Client, rawPost, startTestSidecar } from '../support/sidecar.ts';

const dir = mkdtempSync(join(tmpdir(), 'sark-sessions-'));
const KEYS = join(dir, 'keys.json');
const A = 'agent-a-key-0123456789abcdef';
const B = 'agent-b-key-0123456789abcdef';
writeFileSync(
  KEYS,
  JSON.stringify([
    { key: A, agentId: 'agent-a', roles: ['developer'] },
    { key: B, agentId: 'agent-b', roles: ['developer'] },
  ]),
);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 7,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'mine now' } },
});

/** A raw HTTP exchange with full control of the headers (Host, Connection, …). */
function raw(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer | string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      // A GET stream that opened stays open: read the first chunk and leave.
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (method === 'GET') res.destroy();
      });
      const done = () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
      res.on('end', done);
      res.on('close', done);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function withoutRequestId(text: string): unknown {
  const j = JSON.parse(text);
  if (j.error?.data) j.error.data.request_id = 'x';
  j.id = 'x';
  return j;
}

describe('2025 sessions are bound to the principal that opened them', () => {
  let upstream: CatalogServer;
  let sidecar: Sidecar;
  let alice: Client;
  let session: string;

  beforeAll(async () => {
    upstream = await startCatalogServer({ responses: 'json' });
    sidecar = await startTestSidecar(['--upstream-url', upstream.url, '--api-keys-file', KEYS]);
    alice = await connectV1Client(sidecar.mcpUrl, { 'x-api-key': A });
    session = (alice.transport as StreamableHTTPClientTransport).sessionId!;
    expect(session).toBeTruthy();
  });

  afterAll(async () => {
    await alice?.close();
    await sidecar?.close();
    await upstream?.close();
  });

  const as = (key: string, extra: Record<string, string> = {}) => ({
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'x-api-key': key,
    'mcp-protocol-version': '2025-11-25',
    'mcp-session-id': session,
    ...extra,
  });

  it('another agent presenting the session id is answered exactly as for an unknown session, on POST, GET and DELETE', async () => {
    const before = upstream.received.length;
    const unknown = await raw(sidecar.mcpUrl, 'POST', { ...as(B), 'mcp-session-id': 'no-such-session' }, CALL);
    expect(unknown.status).toBe(404);
    expect(unknown.headers['x-sark-error']).toBe('SARK_SESSION_NOT_FOUND');
    const post = await raw(sidecar.mcpUrl, 'POST', as(B), CALL);
    expect(post.status).toBe(404);
    expect(withoutRequestId(post.text)).toEqual(withoutRequestId(unknown.text));
    for (const [method, extra] of [
      ['GET', { accept: 'text/event-stream' }],
      ['GET', { accept: 'text/event-stream', 'last-event-id': '1' }],
      ['DELETE', {}],
    ] as const) {
      const r = await raw(sidecar.mcpUrl, method, as(B, extra));
      expect(r.status, `${method} ${JSON.stringify(extra)}`).toBe(404);
      expect(r.headers['x-sark-error']).toBe('SARK_SESSION_NOT_FOUND');
    }
    expect(upstream.received.length).toBe(before);
    // Alice's session survived B's DELETE.
    const res = await alice.callTool({ name: 'echo', arguments: { text: 'still mine' } });
    expect(res.content).toEqual([{ type: 'text', text: 'still mine' }]);
  });

  it('the owner ends the session; afterwards SARK forgets it', async () => {
    const own = await raw(sidecar.mcpUrl, 'POST', as(A), CALL);
    expect(own.status).toBe(200);
    await (alice.transport as StreamableHTTPClientTransport).terminateSession();
    const after = await raw(sidecar.mcpUrl, 'POST', as(A), CALL);
    expect(after.status).toBe(404);
    expect(after.headers['x-sark-error']).toBe('SARK_SESSION_NOT_FOUND');
  });
});

describe('with Redis, every replica agrees on who owns a session', () => {
  let redis: Service;
  let upstream: CatalogServer;
  let one: Sidecar;
  let two: Sidecar;

  beforeAll(async () => {
    [redis, upstream] = await Promise.all([startRedis(), startCatalogServer({ responses: 'json' })]);
    const args = [
      '--upstream-url',
      upstream.url,
      '--api-keys-file',
      KEYS,
      '--redis-url',
      redis.url,
      '--redis-budget-ms',
      '200',
    ];
    [one, two] = await Promise.all([startTestSidecar(args), startTestSidecar(args)]);
    for (const s of [one, two]) {
      await until('the Redis link to be up', async () =>
        /^sark_redis_up(\{[^}]*\})? 1$/m.test(await (await fetch(`${s.adminUrl}/metrics`)).text()),
      );
    }
  });

  afterAll(async () => {
    await Promise.all([one?.close(), two?.close()]);
    await Promise.all([upstream?.close(), redis?.stop()]);
  });

  it('opened on one replica, used by its owner on another, refused to anyone else there', async () => {
    const init = await rawPost(
      one.mcpUrl,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
      { 'x-api-key': A },
    );
    const session = init.headers.get('mcp-session-id')!;
    expect(session).toBeTruthy();
    const h = (key: string) => ({ 'x-api-key': key, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
    await rawPost(one.mcpUrl, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), h(A));
    let owner: Awaited<ReturnType<typeof rawPost>> | undefined;
    // The binding is written to Redis in the background: poll with a deadline.
    await until('the other replica to know the session', async () => {
      owner = await rawPost(two.mcpUrl, CALL, h(A));
      return owner.status === 200;
    });
    expect(owner!.json.result.content).toEqual([{ type: 'text', text: 'mine now' }]);
    const thief = await rawPost(two.mcpUrl, CALL, h(B));
    expect(thief.status).toBe(404);
    expect(thief.headers.get('x-sark-error')).toBe('SARK_SESSION_NOT_FOUND');
  });
});

describe('DNS rebinding: Host and Origin are checked before anything else', () => {
  let upstream: RawUpstream;
  let sidecar: Sidecar;
  const audit = join(dir, 'rebinding.ndjson');

  beforeAll(async () => {
    upstream = await startRawUpstream();
    upstream.handler = (_q, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":{}}');
    sidecar = await startTestSidecar(['--upstream-url', upstream.url, '--audit-file', audit]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
  });

  const INIT = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'page', version: '1' } },
  });
  const json = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

  it('a rebound name (evil Host and Origin) is refused, never forwarded, and audited', async () => {
    const before = upstream.captured.length;
    const r = await raw(
      sidecar.mcpUrl,
      'POST',
      { ...json, host: 'evil.example.com', origin: 'http://evil.example.com' },
      INIT,
    );
    expect(r.status).toBe(403);
    expect(r.headers['x-sark-error']).toBe('SARK_HOST_NOT_ALLOWED');
    const o = await raw(sidecar.mcpUrl, 'POST', { ...json, origin: 'http://evil.example.com' }, INIT);
    expect(o.status).toBe(403);
    expect(o.headers['x-sark-error']).toBe('SARK_ORIGIN_NOT_ALLOWED');
    expect(upstream.captured.length).toBe(before);
    await sidecar.close();
    const rows = auditFileRows(audit);
    expect(rows.map((r) => [r.decision, r.reasons[0]])).toEqual([
      ['deny', 'host_not_allowed'],
      ['deny', 'origin_not_allowed'],
    ]);
    sidecar = await startTestSidecar(['--upstream-url', upstream.url]);
  });

  it('localhost names and origins pass (a local browser client such as the MCP Inspector)', async () => {
    const r = await raw(sidecar.mcpUrl, 'POST', { ...json, origin: 'http://localhost:6274' }, INIT);
    expect(r.status).toBe(200);
  });
});

describe('headers', () => {
  it('fields the client Connection header names are not forwarded (RFC 9110 §7.6.1)', async () => {
    const upstream = await startRawUpstream();
    const sidecar = await startTestSidecar(['--upstream-url', upstream.url]);
    try {
      upstream.handler = (_q, res) =>
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}');
      const r = await raw(
        sidecar.mcpUrl,
        'POST',
        { 'content-type': 'application/json', connection: 'keep-alive, X-Route-Override', 'x-route-override': 'admin' },
        '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      );
      expect(r.status).toBe(200);
      expect(upstream.captured.at(-1)!.headers['x-route-override']).toBeUndefined();
    } finally {
      await sidecar.close();
      await upstream.close();
    }
  });

  it('a compressed allowed call reaches a real SDK server as the plain JSON SARK authorized', async () => {
    const upstream = await startCatalogServer({ responses: 'json' });
    const sidecar = await startTestSidecar(['--upstream-url', upstream.url, '--api-keys-file', KEYS]);
    try {
      const client = await connectV1Client(sidecar.mcpUrl, { 'x-api-key': A });
      const session = (client.transport as StreamableHTTPClientTransport).sessionId!;
      const r = await raw(
        sidecar.mcpUrl,
        'POST',
        {
          'content-type': 'application/json; charset=utf-8',
          'content-encoding': 'gzip',
          accept: 'application/json, text/event-stream',
          'x-api-key': A,
          'mcp-session-id': session,
          'mcp-protocol-version': '2025-11-25',
        },
        gzipSync(CALL),
      );
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text).result.content).toEqual([{ type: 'text', text: 'mine now' }]);
      await client.close();
    } finally {
      await sidecar.close();
      await upstream.close();
    }
  });
});
