/**
 * Answers the policy says to filter are filtered whatever form they take,
 * or refused: never passed through. A scriptable upstream answers a
 * filtered tools/list (the anonymous agent sees echo, add and get_time,
 * never delete_file) gzip-encoded, as `Text/Event-Stream`, with status 201,
 * as a body that does not parse, as text/plain, and larger than SARK may
 * hold. Also: batch and subscription limits, and the method label every
 * answer SARK makes itself is counted under.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type RawUpstream, startRawUpstream } from '../../support/raw-upstream.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';

const TOOLS = ['echo', 'add', 'get_time', 'delete_file'].map((name) => ({ name, inputSchema: { type: 'object' } }));
const LIST = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: TOOLS } });
const ASK = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';

describe('filtered answers fail closed', () => {
  let upstream: RawUpstream;
  let sidecar: Sidecar;

  beforeAll(async () => {
    upstream = await startRawUpstream();
    sidecar = await startTestSidecar(['--upstream-url', upstream.url, '--upstream-max-buffered-bytes', '65536']);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
  });

  const visible = (json: any) => json.result.tools.map((t: { name: string }) => t.name);

  it('a plain 200 JSON answer is filtered (the baseline)', async () => {
    upstream.handler = (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(LIST);
    expect(visible((await rawPost(sidecar.mcpUrl, ASK)).json)).toEqual(['echo', 'add', 'get_time']);
  });

  it('a 201 listing tools is filtered like a 200', async () => {
    upstream.handler = (_q, res) => res.writeHead(201, { 'content-type': 'Application/JSON; charset=utf-8' }).end(LIST);
    const res = await rawPost(sidecar.mcpUrl, ASK);
    expect(res.status).toBe(201);
    expect(visible(res.json)).toEqual(['echo', 'add', 'get_time']);
  });

  it('a case-variant event stream is filtered event by event', async () => {
    upstream.handler = (_q, res) => {
      res.writeHead(200, { 'content-type': 'Text/Event-Stream' });
      res.end(`event: message\nid: 1\ndata: ${LIST}\n\n`);
    };
    const res = await rawPost(sidecar.mcpUrl, ASK);
    expect(res.text).not.toContain('delete_file');
    const data = res.text
      .split('\n')
      .find((l) => l.startsWith('data: '))!
      .slice(6);
    expect(visible(JSON.parse(data))).toEqual(['echo', 'add', 'get_time']);
    expect(res.text).toContain('id: 1');
  });

  it.each([
    [
      'gzip-encoded',
      { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      gzipSync(LIST),
      'SARK_RESPONSE_UNFILTERABLE',
    ],
    [
      'not JSON',
      { 'content-type': 'application/json' },
      Buffer.from('{"jsonrpc":"2.0","id":1,"result":{"tools":['),
      'SARK_RESPONSE_UNFILTERABLE',
    ],
    ['text/plain', { 'content-type': 'text/plain' }, Buffer.from(LIST), 'SARK_RESPONSE_UNFILTERABLE'],
    [
      'over upstreamMaxBufferedBytes',
      { 'content-type': 'application/json' },
      Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: TOOLS, pad: 'x'.repeat(70_000) } })),
      'SARK_UPSTREAM_RESPONSE_TOO_LARGE',
    ],
  ])('an answer %s is refused with 502, never passed through', async (_what, headers, body, code) => {
    upstream.handler = (_q, res) => res.writeHead(200, headers).end(body);
    const res = await rawPost(sidecar.mcpUrl, ASK);
    expect(res.status).toBe(502);
    expect(res.headers.get('x-sark-error')).toBe(code);
    expect(res.json.id).toBe(1);
    expect(res.text).not.toContain('delete_file');
  });

  it('an event that is not JSON ends the stream with an error for the pending request', async () => {
    upstream.handler = (_q, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`event: message\ndata: not json ${LIST}\n\n`);
    };
    const res = await rawPost(sidecar.mcpUrl, ASK);
    expect(res.text).not.toContain('delete_file');
    const data = JSON.parse(
      res.text
        .split('\n')
        .find((l) => l.startsWith('data: '))!
        .slice(6),
    );
    expect(data).toMatchObject({ id: 1, error: { code: -32010 } });
  });

  it('an unfiltered answer (a tool call) still streams through untouched, gzip included', async () => {
    const zipped = gzipSync('{"jsonrpc":"2.0","id":2,"result":{"content":[]}}');
    upstream.handler = (_q, res) =>
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(zipped);
    const res = await fetch(sidecar.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: 2, result: { content: [] } });
  });
});

describe('limits and labels', () => {
  let upstream: RawUpstream;
  let sidecar: Sidecar;

  beforeAll(async () => {
    upstream = await startRawUpstream();
    upstream.handler = (_q, res) => res.writeHead(202).end();
    sidecar = await startTestSidecar([
      '--upstream-url',
      upstream.url,
      '--batch-max-elements',
      '5',
      '--subscription-max-uris',
      '2',
      '--max-body-bytes',
      '4096',
    ]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
  });

  it('a batch over batchMaxElements is refused whole, before any decision', async () => {
    const before = upstream.captured.length;
    const batch = Array.from({ length: 6 }, () => ({ jsonrpc: '2.0', method: 'notifications/progress', params: {} }));
    const res = await rawPost(sidecar.mcpUrl, JSON.stringify(batch));
    expect(res.status).toBe(400);
    expect(res.headers.get('x-sark-error')).toBe('SARK_LIMIT_EXCEEDED');
    expect(res.json.error.message).toMatch(/at most 5 messages/);
    expect(upstream.captured.length).toBe(before);
  });

  it('a subscription over subscriptionMaxUris is refused with a clear JSON-RPC error', async () => {
    const res = await rawPost(
      sidecar.mcpUrl,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 9,
        method: 'subscriptions/listen',
        params: { notifications: { resourceSubscriptions: ['a://1', 'a://2', 'a://3'] } },
      }),
    );
    expect(res.json).toMatchObject({ id: 9, error: { code: -32600 } });
    expect(res.json.error.message).toMatch(/at most 2 resources/);
  });

  it('every answer SARK makes itself is counted under a truthful method label', async () => {
    await fetch(sidecar.mcpUrl, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    await rawPost(sidecar.mcpUrl, '{"jsonrpc":');
    await rawPost(
      sidecar.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { pad: 'x'.repeat(5000) } }),
    );
    await fetch(`${sidecar.dataUrl}/nope`);
    await fetch(sidecar.mcpUrl, { method: 'PUT' });
    const text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    const count = (label: string) =>
      Number(
        new RegExp(`^sark_requests_total\\{method="${label}",outcome="error"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
      );
    // The three above and the oversized batch of the first test.
    expect(count('http:post')).toBe(4);
    expect(count('http:other')).toBe(2);
    expect(text).not.toMatch(/^sark_requests_total\{method="internal"/m);
    for (const reason of [
      'unsupported_media_type',
      'parse_error',
      'body_too_large',
      'not_found',
      'http_method_not_allowed',
    ]) {
      expect(text).toMatch(new RegExp(`^sark_errors_total\\{reason="${reason}"[^}]*\\} 1`, 'm'));
    }
  });
});
