/**
 * Bad input gets a clear JSON-RPC error with the right HTTP status, and
 * nothing reaches the MCP server.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../../src/demo/server.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { type Service, startOpa } from '../support/services.ts';
import { rawPost, startTestSidecar } from '../support/sidecar.ts';

describe('bad input through SARK', () => {
  let opa: Service;
  let upstream: DemoServer;
  let sidecar: Sidecar;

  beforeAll(async () => {
    [opa, upstream] = await Promise.all([startOpa(), startDemoServer({ jsonResponse: true })]);
    sidecar = await startTestSidecar(['--opa-url', opa.url, '--upstream-url', upstream.url, '--opa-timeout-ms', '500']);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
    await opa?.stop();
  });

  const cases: {
    name: string;
    body: string;
    headers?: Record<string, string>;
    status: number;
    code: number;
    sark: string;
  }[] = [
    {
      name: 'malformed JSON',
      body: '{"jsonrpc":"2.0","id":1,"method":',
      status: 400,
      code: -32700,
      sark: 'SARK_PARSE_ERROR',
    },
    { name: 'empty body', body: '', status: 400, code: -32700, sark: 'SARK_PARSE_ERROR' },
    {
      name: 'JSON that is not JSON-RPC',
      body: '{"hello":"world"}',
      status: 400,
      code: -32600,
      sark: 'SARK_INVALID_REQUEST',
    },
    {
      name: 'wrong jsonrpc version',
      body: '{"jsonrpc":"1.0","id":1,"method":"tools/list"}',
      status: 400,
      code: -32600,
      sark: 'SARK_INVALID_REQUEST',
    },
    {
      name: 'array params',
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}',
      status: 400,
      code: -32600,
      sark: 'SARK_INVALID_REQUEST',
    },
    {
      name: 'null request id',
      body: '{"jsonrpc":"2.0","id":null,"method":"tools/list"}',
      status: 400,
      code: -32600,
      sark: 'SARK_INVALID_REQUEST',
    },
    { name: 'a bare JSON string', body: '"tools/call"', status: 400, code: -32600, sark: 'SARK_INVALID_REQUEST' },
    {
      name: 'wrong content type',
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      headers: { 'content-type': 'text/plain' },
      status: 415,
      code: -32600,
      sark: 'SARK_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'a body that claims gzip but is not',
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      headers: { 'content-encoding': 'gzip' },
      status: 400,
      code: -32700,
      sark: 'SARK_PARSE_ERROR',
    },
    {
      name: 'an unsupported content encoding',
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      headers: { 'content-encoding': 'compress' },
      status: 415,
      code: -32600,
      sark: 'SARK_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'duplicate keys (two parsers could read two messages)',
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_file"}}',
      status: 400,
      code: -32600,
      sark: 'SARK_INVALID_REQUEST',
    },
    {
      name: 'unknown protocol version',
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      headers: { 'mcp-protocol-version': '2099-01-01' },
      status: 400,
      code: -32022,
      sark: 'SARK_UNSUPPORTED_PROTOCOL_VERSION',
    },
  ];

  for (const c of cases) {
    it(`${c.name} → HTTP ${c.status}, ${c.code}, nothing forwarded`, async () => {
      const before = upstream.received.length;
      const res = await rawPost(sidecar.mcpUrl, c.body, c.headers);
      expect(res.status).toBe(c.status);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('x-sark-error')).toBe(c.sark);
      expect(res.json.jsonrpc).toBe('2.0');
      expect(res.json.error.code).toBe(c.code);
      expect(typeof res.json.error.message).toBe('string');
      expect(upstream.received.length).toBe(before);
    });
  }

  it('a body over the limit (default 1 MiB) → 413 without reading it all', async () => {
    const before = upstream.received.length;
    const big = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'x'.repeat(1024 * 1024) } },
    });
    const res = await rawPost(sidecar.mcpUrl, big);
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe(-32600);
    expect(res.headers.get('x-sark-error')).toBe('SARK_BODY_TOO_LARGE');
    expect(upstream.received.length).toBe(before);
  });

  it('a chunked body over the limit (no Content-Length) → 413', async () => {
    const url = new URL(sidecar.mcpUrl);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 20; i++) req.write(chunk);
      req.end();
    });
    expect(status).toBe(413);
  });

  it('other paths → 404, other HTTP methods → 405', async () => {
    const base = new URL(sidecar.mcpUrl);
    const notFound = await fetch(new URL('/other', base), { method: 'POST' });
    expect(notFound.status).toBe(404);
    expect(((await notFound.json()) as any).error.code).toBe(-32600);
    const put = await fetch(sidecar.mcpUrl, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST, DELETE');
    await put.arrayBuffer();
  });

  it('an unknown method goes through the policy default (deny)', async () => {
    const before = upstream.received.length;
    const res = await rawPost(sidecar.mcpUrl, '{"jsonrpc":"2.0","id":5,"method":"admin/shutdown"}');
    expect(res.status).toBe(200);
    expect(res.json.error.code).toBe(-32002);
    expect(res.json.id).toBe(5);
    expect(upstream.received.length).toBe(before);
  });

  it('upstream down → 502 with the request id', async () => {
    const down = await startTestSidecar([
      '--opa-url',
      opa.url,
      '--upstream-url',
      'http://127.0.0.1:1/mcp',
      '--opa-timeout-ms',
      '500',
    ]);
    try {
      const res = await rawPost(down.mcpUrl, '{"jsonrpc":"2.0","id":"u1","method":"tools/list"}');
      expect(res.status).toBe(502);
      expect(res.json.id).toBe('u1');
      expect(res.json.error.code).toBe(-32005);
    } finally {
      await down.close();
    }
  });
});
