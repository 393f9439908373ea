/**
 * Forwarding semantics: headers that MCP relies on are preserved, SSE events
 * are streamed one by one (never buffered), a client that leaves cancels the
 * upstream request, and upstream faults become JSON-RPC errors.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type RawUpstream, startRawUpstream } from '../../support/raw-upstream.ts';
import { waitFor } from '../../support/services.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';

describe('forwarding', () => {
  let upstream: RawUpstream;
  let sidecar: Sidecar;
  const dir = mkdtempSync(join(tmpdir(), 'sark-fwd-'));
  const keysFile = join(dir, 'keys.json');
  writeFileSync(
    keysFile,
    JSON.stringify([{ key: 'dev-key-0123456789abcdef', agentId: 'agent-dev', roles: ['developer'] }]),
  );

  beforeAll(async () => {
    upstream = await startRawUpstream();
    // Embedded WASM policy: these tests are about forwarding, not OPA.
    sidecar = await startTestSidecar([
      '--upstream-url',
      upstream.url,
      '--upstream-timeout-ms',
      '400',
      '--api-keys-file',
      keysFile,
    ]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Opens a 2025 session through SARK, which binds it to the caller (SARK refuses session ids it did not see made). */
  async function initialize(sessionId: string, headers: Record<string, string>): Promise<void> {
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': sessionId });
      res.end(
        '{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"raw","version":"1"}}}',
      );
    };
    const init = { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } };
    const res = await rawPost(
      sidecar.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: init }),
      headers,
    );
    expect(res.headers.get('mcp-session-id')).toBe(sessionId);
  }

  it('preserves mcp-session-id, mcp-protocol-version and Last-Event-ID, and strips SARK credentials', async () => {
    await initialize('sess-1', { 'x-api-key': 'dev-key-0123456789abcdef' });
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 'sess-1' });
      res.end('id: 7\nevent: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\n');
    };
    const res = await fetch(sidecar.mcpUrl, {
      method: 'GET',
      headers: {
        accept: 'text/event-stream',
        'mcp-session-id': 'sess-1',
        'mcp-protocol-version': '2025-11-25',
        'last-event-id': '6',
        'x-api-key': 'dev-key-0123456789abcdef',
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBe('sess-1');
    expect(await res.text()).toContain('id: 7');
    const got = upstream.captured.at(-1)!;
    expect(got.method).toBe('GET');
    expect(got.headers['mcp-session-id']).toBe('sess-1');
    expect(got.headers['mcp-protocol-version']).toBe('2025-11-25');
    expect(got.headers['last-event-id']).toBe('6');
    expect(got.headers['x-api-key']).toBeUndefined();
    expect(got.headers['accept-encoding']).toBe('identity');
  });

  it('forwards the re-serialized message that the policy saw', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","id":3,"result":{"content":[]}}');
    };
    const sent =
      '{ "jsonrpc" : "2.0", "id":3, "method":"tools/call", "params":{"name":"echo","arguments":{"text":"a"}} }';
    const res = await rawPost(sidecar.mcpUrl, sent);
    expect(res.status).toBe(200);
    const got = upstream.captured.at(-1)!;
    expect(got.body).toBe(JSON.stringify(JSON.parse(sent)));
    expect(got.headers['content-length']).toBe(String(Buffer.byteLength(got.body)));
  });

  it('streams SSE events as they come, without buffering the stream', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(
        'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}\n\n',
      );
      // The second event is only sent once the client has seen the first:
      // a buffering proxy would deadlock here and the test would time out.
      released.then(() => {
        res.end('event: message\ndata: {"jsonrpc":"2.0","id":4,"result":{"content":[]}}\n\n');
      });
    };
    const res = await fetch(sidecar.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 4,
        method: 'tools/call',
        params: { name: 'get_time', arguments: {} },
      }),
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    let seen = '';
    while (!seen.includes('notifications/progress')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += Buffer.from(value).toString();
    }
    expect(seen).toContain('notifications/progress');
    expect(seen).not.toContain('"id":4');
    release();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += Buffer.from(value).toString();
    }
    expect(seen).toContain('"id":4');
  });

  it('a client that disconnects mid-stream cancels the upstream request', async () => {
    let upstreamClosed = false;
    upstream.handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      req.socket.on('close', () => {
        upstreamClosed = true;
      });
    };
    const url = new URL(sidecar.mcpUrl);
    await new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'GET',
          headers: { accept: 'text/event-stream' },
        },
        (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });
    await waitFor('upstream request cancelled', async () => upstreamClosed, 5_000);
  });

  it('an upstream that does not answer in time → 504 with the request id', async () => {
    upstream.handler = () => {
      // never answers
    };
    const res = await rawPost(sidecar.mcpUrl, '{"jsonrpc":"2.0","id":"slow","method":"tools/list"}');
    expect(res.status).toBe(504);
    expect(res.json.id).toBe('slow');
    expect(res.json.error.code).toBe(-32006);
  });

  it('an upstream that resets the connection → 502', async () => {
    upstream.handler = (req) => {
      req.socket.destroy();
    };
    const res = await rawPost(sidecar.mcpUrl, '{"jsonrpc":"2.0","id":"reset","method":"tools/list"}');
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe(-32005);
  });

  it('a small chunked JSON answer goes to the client in one piece with its Content-Length', async () => {
    const answer = '{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"ok"}]}}';
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // no Content-Length: chunked
      res.write(answer.slice(0, 20));
      setTimeout(() => res.end(answer.slice(20)), 20);
    };
    const res = await rawPost(
      sidecar.mcpUrl,
      '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}}',
    );
    expect(res.status).toBe(200);
    expect(res.text).toBe(answer);
    expect(res.headers.get('content-length')).toBe(String(answer.length));
    expect(res.headers.get('transfer-encoding')).toBeNull();
  });

  it('a chunked JSON answer larger than the one-write bound is relayed whole as it comes', async () => {
    const text = 'x'.repeat(200 * 1024);
    const answer = JSON.stringify({ jsonrpc: '2.0', id: 5, result: { content: [{ type: 'text', text }] } });
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < answer.length; i += 16 * 1024) res.write(answer.slice(i, i + 16 * 1024));
      res.end();
    };
    const res = await rawPost(
      sidecar.mcpUrl,
      '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}}',
    );
    expect(res.status).toBe(200);
    expect(res.text).toBe(answer);
    expect(res.headers.get('content-length')).toBeNull();
  });

  it('notifications pass and get the upstream 202', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(202).end();
    };
    const res = await rawPost(sidecar.mcpUrl, '{"jsonrpc":"2.0","method":"notifications/initialized"}');
    expect(res.status).toBe(202);
    expect(res.text).toBe('');
  });
});
