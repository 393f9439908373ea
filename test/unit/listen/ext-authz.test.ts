/**
 * The ext_authz adapter's mapping from a CheckRequest to an Intake: headers,
 * path and method, the message from the body (either form) or from the MCP
 * filter's metadata, the peer principal, and the same strict parsing,
 * limits and classification as the MCP listener.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type CheckRequest,
  ExtAuthzAdapter,
  type ExtAuthzContext,
  headerLookup,
} from '../../../src/listen/ext-authz.ts';
import { peerAddress } from '../../../src/listen/ext-authz-server.ts';
import { fromProtoStruct, toProtoStruct } from '../../../src/listen/proto-struct.ts';
import { DEFAULT_JSON_LIMITS } from '../../../src/mcp/strict-json.ts';

const adapter = new ExtAuthzAdapter({
  serverId: 'demo',
  maxBodyBytes: 1024,
  jsonLimits: DEFAULT_JSON_LIMITS,
  batchMode: 'per-element',
  batchMaxElements: 3,
});
const noReply = () => {};

function http(
  method: string,
  headers: Record<string, string>,
  body?: { raw?: Buffer; text?: string },
  extra: Partial<NonNullable<CheckRequest['attributes']>> = {},
): CheckRequest {
  return {
    attributes: {
      request: { http: { method, path: '/mcp?debug=1', headers, raw_body: body?.raw, body: body?.text } },
      ...extra,
    },
  };
}

const JSON_HEADERS = { 'content-type': 'application/json', ':path': '/mcp', ':method': 'POST' };
const CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { a: 1 } },
});

async function refusal(check: CheckRequest): Promise<string | undefined> {
  return (await adapter.intake(check, '127.0.0.1', noReply, 0)).failure?.code;
}

describe('ext_authz adapter: CheckRequest → Intake', () => {
  it('maps a POST with raw_body: one classified message, request facts from the HTTP attributes', async () => {
    const replies: unknown[] = [];
    const intake = await adapter.intake(
      http(
        'POST',
        {
          ...JSON_HEADERS,
          'User-Agent': 'agent/1',
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        },
        { raw: Buffer.from(CALL) },
        { source: { principal: 'spiffe://cluster.local/ns/a/sa/b' } },
      ),
      '::ffff:127.0.0.1',
      (r) => replies.push(r),
      12.5,
    );
    expect(intake.failure).toBeUndefined();
    expect(intake.transport).toBe('ext-authz');
    expect(intake.req).toBeUndefined();
    expect(intake.batch).toBe(false);
    expect(intake.peerPrincipal).toBe('spiffe://cluster.local/ns/a/sa/b');
    expect(intake.meta).toMatchObject({
      transport: 'ext-authz',
      httpMethod: 'POST',
      path: '/mcp',
      clientAddress: '::ffff:127.0.0.1',
      userAgent: 'agent/1',
      sessionId: undefined,
      t0: 12.5,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(intake.headers[':path']).toBeUndefined();
    expect(intake.messages).toHaveLength(1);
    expect(intake.messages[0]!.msg).toMatchObject({
      method: 'tools/call',
      action: 'gateway:tool:invoke',
      name: 'echo',
      arguments: { a: 1 },
      era: '2025-stateless',
    });
    const ctx = intake.context as ExtAuthzContext;
    expect(ctx.sent).toEqual([JSON.parse(CALL)]);
    ctx.reply('answer');
    expect(replies).toEqual(['answer']);
  });

  it('reads the body string form too, and a gzip raw body decoded within the limit', async () => {
    const text = await adapter.intake(http('POST', JSON_HEADERS, { text: CALL }), undefined, noReply, 0);
    expect(text.messages[0]!.msg?.name).toBe('echo');
    const gz = await adapter.intake(
      http('POST', { ...JSON_HEADERS, 'content-encoding': 'gzip' }, { raw: gzipSync(CALL) }),
      undefined,
      noReply,
      0,
    );
    expect(gz.messages[0]!.msg?.name).toBe('echo');
    const bomb = gzipSync(JSON.stringify({ jsonrpc: '2.0', method: 'x', params: { pad: 'x'.repeat(5000) } }));
    expect(await refusal(http('POST', { ...JSON_HEADERS, 'content-encoding': 'gzip' }, { raw: bomb }))).toBe(
      'SARK_BODY_TOO_LARGE',
    );
  });

  it.each([
    ['a body Envoy cut short', { ...JSON_HEADERS, 'x-envoy-auth-partial-body': 'true' }, CALL, 'SARK_BODY_TOO_LARGE'],
    ['a body over maxBodyBytes', JSON_HEADERS, JSON.stringify({ pad: 'x'.repeat(2000) }), 'SARK_BODY_TOO_LARGE'],
    ['another media type', { 'content-type': 'text/plain' }, CALL, 'SARK_UNSUPPORTED_MEDIA_TYPE'],
    ['no media type', {}, CALL, 'SARK_UNSUPPORTED_MEDIA_TYPE'],
    ['an unknown content coding', { ...JSON_HEADERS, 'content-encoding': 'zstd' }, CALL, 'SARK_UNSUPPORTED_MEDIA_TYPE'],
    ['not JSON', JSON_HEADERS, '{"jsonrpc":', 'SARK_PARSE_ERROR'],
    ['a duplicate key', JSON_HEADERS, '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}', 'SARK_INVALID_REQUEST'],
    ['not JSON-RPC', JSON_HEADERS, '{"hello":1}', 'SARK_INVALID_REQUEST'],
    [
      'a batch repeating an id',
      JSON_HEADERS,
      '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":1,"method":"ping"}]',
      'SARK_INVALID_REQUEST',
    ],
    [
      'a batch over batchMaxElements',
      JSON_HEADERS,
      JSON.stringify(Array(4).fill(JSON.parse(CALL))),
      'SARK_LIMIT_EXCEEDED',
    ],
  ])('refuses %s as the MCP listener does', async (_what, headers, body, code) => {
    expect(await refusal(http('POST', headers, { raw: Buffer.from(body) }))).toBe(code);
  });

  it('refuses what carries no MCP message, other HTTP methods and a repeated session id', async () => {
    expect(await refusal(http('POST', JSON_HEADERS))).toBe('SARK_INVALID_REQUEST');
    expect(await refusal({ attributes: {} })).toBe('SARK_INVALID_REQUEST');
    expect(await refusal(http('PUT', JSON_HEADERS, { raw: Buffer.from(CALL) }))).toBe('SARK_METHOD_NOT_ALLOWED');
    const repeated: CheckRequest = {
      attributes: {
        request: {
          http: {
            method: 'POST',
            path: '/mcp',
            header_map: {
              headers: [
                { key: 'content-type', value: 'application/json' },
                { key: 'mcp-session-id', value: 'a' },
                { key: 'Mcp-Session-Id', value: 'b' },
              ],
            },
            raw_body: Buffer.from(CALL),
          },
        },
      },
    };
    expect(await refusal(repeated)).toBe('SARK_HEADER_MISMATCH');
  });

  it('classifies a 2026-07-28 message against its headers, as the MCP listener does', async () => {
    const modern = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
    });
    const headers = { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' };
    const ok = await adapter.intake(
      http('POST', { ...headers, 'mcp-name': 'echo' }, { raw: Buffer.from(modern) }),
      undefined,
      noReply,
      0,
    );
    expect(ok.messages[0]!.msg?.era).toBe('2026');
    const bad = await adapter.intake(
      http('POST', { ...headers, 'mcp-name': 'add' }, { raw: Buffer.from(modern) }),
      undefined,
      noReply,
      0,
    );
    expect(bad.failure).toBeUndefined();
    expect(bad.messages[0]!.error?.code).toBe('SARK_HEADER_MISMATCH');
  });

  it('maps GET and DELETE to the bodiless actions, with the session', async () => {
    const get = await adapter.intake(http('GET', { 'mcp-session-id': 's1' }), undefined, noReply, 0);
    expect(get.meta.sessionId).toBe('s1');
    expect(get.messages[0]!.msg).toMatchObject({ action: 'gateway:stream:listen', era: '2025-session' });
    const del = await adapter.intake(http('delete', { 'mcp-session-id': 's1' }), undefined, noReply, 0);
    expect(del.messages[0]!.msg?.action).toBe('gateway:session:end');
    expect(del.label).toBe('http:delete');
  });

  it("takes the message from the MCP filter's metadata when no body is sent", async () => {
    const published = toProtoStruct({
      id: 7,
      method: 'tools/call',
      params: { name: 'echo', arguments: { list: [1, 'two', true, null] } },
      is_mcp_request: true,
    });
    const intake = await adapter.intake(
      http('POST', { 'content-type': 'application/json' }, undefined, {
        metadata_context: { filter_metadata: { mcp_proxy: published, other: toProtoStruct({ id: 9 }) } },
      }),
      undefined,
      noReply,
      0,
    );
    expect(intake.failure).toBeUndefined();
    expect(intake.messages[0]!.msg).toMatchObject({ id: 7, name: 'echo', arguments: { list: [1, 'two', true, null] } });
    // Only the JSON-RPC members make the message; what else the filter publishes is left out.
    expect((intake.context as ExtAuthzContext).sent[0]).toEqual({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'echo', arguments: { list: [1, 'two', true, null] } },
    });
    const bad = http('POST', {}, undefined, {
      metadata_context: { filter_metadata: { mcp_proxy: toProtoStruct({ id: 1, method: 'x', params: 'nope' }) } },
    });
    expect(await refusal(bad)).toBe('SARK_INVALID_REQUEST');
  });

  it('a body wins over the metadata: the policy judges the bytes Envoy forwards', async () => {
    const intake = await adapter.intake(
      http(
        'POST',
        JSON_HEADERS,
        { raw: Buffer.from(CALL) },
        {
          metadata_context: { filter_metadata: { mcp_proxy: toProtoStruct({ id: 1, method: 'tools/list' }) } },
        },
      ),
      undefined,
      noReply,
      0,
    );
    expect(intake.messages[0]!.msg?.method).toBe('tools/call');
  });
});

describe('ext_authz helpers', () => {
  it('headers: lower-case names, pseudo-headers left out, repeated values kept from header_map', () => {
    expect(headerLookup({ headers: { 'X-Api-Key': 'k', ':authority': 'h' } })).toEqual({ 'x-api-key': ['k'] });
    expect(
      headerLookup({
        headers: { ignored: 'when header_map is sent' },
        header_map: {
          headers: [
            { key: 'Accept', value: 'a' },
            { key: 'accept', value: 'b' },
            { key: 'x-raw', raw_value: Buffer.from('caf\u00e9', 'latin1') },
          ],
        },
      }),
    ).toEqual({ accept: ['a', 'b'], 'x-raw': ['caf\u00e9'] });
  });

  it('Struct ⇄ JSON round trip', () => {
    const value = { a: 1.5, b: 'x', c: false, d: null, e: [1, { f: 'g' }], h: {} };
    expect(fromProtoStruct(toProtoStruct(value))).toEqual(value);
  });

  it("the gRPC peer's address", () => {
    expect(peerAddress('127.0.0.1:5000')).toBe('127.0.0.1');
    expect(peerAddress('::1:5000')).toBe('::1');
    expect(peerAddress('::ffff:10.0.0.1:443')).toBe('::ffff:10.0.0.1');
    expect(peerAddress('[::1]:5000')).toBe('::1');
    expect(peerAddress('unknown')).toBeUndefined();
  });
});
