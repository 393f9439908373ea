/**
 * Non-MCP paths on the data listener, end to end: a real SARK in front of a
 * real server that also serves a health path, metrics and a WebSocket. The
 * allow-listed paths reach the server unchanged (WebSocket included), every
 * other path is SARK's 404, and MCP traffic is still enforced.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type PodServer, startPodServer } from '../../support/pod-server.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';

let server: PodServer;
let sark: Sidecar;

beforeAll(async () => {
  server = await startPodServer();
  sark = await startTestSidecar([
    '--upstream-url',
    `${server.url}/mcp`,
    '--passthrough-paths',
    '/healthz,/metrics/*,/ws',
  ]);
});
afterAll(async () => {
  await sark?.close();
  await server?.close();
});

/** A raw request, so that the path reaches SARK exactly as written. */
function raw(method: string, path: string): Promise<{ status: number; headers: any; body: string }> {
  const url = new URL(sark.dataUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function websocket(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${sark.dataUrl.replace('http', 'ws')}${path}`);
    ws.onopen = () => ws.send('hello');
    ws.onmessage = (e) => {
      resolve(String(e.data));
      ws.close();
    };
    ws.onerror = () => reject(new Error(`websocket ${path} failed`));
  });
}

describe('passthrough paths', () => {
  it('passes an allow-listed path to the server unchanged: same path, query, Host, no X-Forwarded-*', async () => {
    const res = await raw('GET', '/healthz?verbose=1');
    expect(res.status).toBe(200);
    expect(res.body).toBe('pod-server healthy\n');
    expect(res.headers['x-pod-server']).toBe('yes');
    const seen = server.requests.at(-1)!;
    expect(seen.path).toBe('/healthz');
    expect(seen.headers.host).toBe(new URL(sark.dataUrl).host);
    expect(Object.keys(seen.headers).filter((h) => h.startsWith('x-forwarded'))).toEqual([]);
  });

  it('passes HEAD and prefix entries; other methods get 405', async () => {
    expect((await raw('HEAD', '/healthz')).status).toBe(200);
    const metrics = await raw('GET', '/metrics/app');
    expect(metrics.body).toBe('app_up 1\n');
    const post = await raw('POST', '/healthz');
    expect(post.status).toBe(405);
    expect(post.headers['x-sark-error']).toBe('SARK_METHOD_NOT_ALLOWED');
  });

  it.each([
    '/other',
    '/metrics',
    '/healthz/x',
    '/healthz/../mcp',
    '/metrics/../mcp',
    '/metrics/%2e%2e/mcp',
    '/metrics//x',
    '/MCP',
  ])('refuses %s with SARK 404, never reaching the server', async (path) => {
    const before = server.requests.length;
    const res = await raw('GET', path);
    expect(res.status).toBe(404);
    expect(res.headers['x-sark-error']).toBe('SARK_NOT_FOUND');
    expect(server.requests.length).toBe(before);
  });

  it('proxies a WebSocket on an allow-listed path and refuses others', async () => {
    expect(await websocket('/ws')).toBe('echo: hello');
    expect(server.requests.at(-1)).toMatchObject({ event: 'ws', path: '/ws' });
    await expect(websocket('/mcp')).rejects.toThrow(/websocket \/mcp failed/);
    await expect(websocket('/other')).rejects.toThrow(/failed/);
  });

  it('leaves other Upgrade requests to the pipeline: an h2c attempt on the MCP path is still served as MCP', async () => {
    const url = new URL(sark.mcpUrl);
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'h2c' } },
    });
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: url.pathname,
          headers: {
            connection: 'upgrade, http2-settings',
            upgrade: 'h2c',
            'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA',
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': '2025-06-18',
          },
        },
        (r) => {
          let text = '';
          r.on('data', (d) => (text += d));
          r.on('end', () => resolve({ status: r.statusCode!, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).result.content[0].text).toBe('h2c');
  });

  it('still enforces MCP: echo allowed, delete_file denied and never executed', async () => {
    const call = (name: string, args: object) =>
      rawPost(
        sark.mcpUrl,
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
        { 'mcp-protocol-version': '2025-06-18' },
      );
    const ok = await call('echo', { text: 'hi' });
    expect(ok.json.result.content[0].text).toBe('hi');
    const denied = await call('delete_file', { path: '/etc/passwd' });
    expect(denied.json.error.code).toBe(-32002);
    expect(server.executed).toEqual(['echo', 'echo']);
  });
});

describe('passthrough with the server down', () => {
  it('answers 502 SARK_UPSTREAM_UNAVAILABLE', async () => {
    const down = await startPodServer();
    await down.close();
    const s = await startTestSidecar(['--upstream-url', `${down.url}/mcp`, '--passthrough-paths', '/healthz']);
    try {
      const res = await fetch(`${s.dataUrl}/healthz`);
      expect(res.status).toBe(502);
      expect(res.headers.get('x-sark-error')).toBe('SARK_UPSTREAM_UNAVAILABLE');
    } finally {
      await s.close();
    }
  });
});
