/**
 * The legacy HTTP+SSE transport (2024-11-05) is enforced exactly like
 * Streamable HTTP: the official SDK v1 SSE client through SARK to the SDK's
 * SSE server, real OPA deciding.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../../../src/demo/server.ts';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type LegacyServer, startLegacyServer } from '../../support/legacy-server.ts';
import { type Service, startOpa } from '../../support/services.ts';
import { startTestSidecar } from '../../support/sidecar.ts';

describe('legacy HTTP+SSE transport through SARK', () => {
  let opa: Service;
  let legacyServer: LegacyServer;
  let modern: DemoServer;
  let sidecar: Sidecar;
  let client: Client;
  const dir = mkdtempSync(join(tmpdir(), 'sark-legacy-'));
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify([{ key: 'other-agent-key-0123456789', agentId: 'other', roles: ['admin'] }]));

  beforeAll(async () => {
    [opa, legacyServer, modern] = await Promise.all([startOpa(), startLegacyServer(), startDemoServer()]);
    sidecar = await startTestSidecar([
      '--opa-url',
      opa.url,
      '--upstream-url',
      modern.url,
      '--upstream-sse-url',
      legacyServer.sseUrl,
      '--opa-timeout-ms',
      '1000',
      '--api-keys-file',
      keysFile,
    ]);
    client = new Client({ name: 'legacy-client', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(`${sidecar.dataUrl}/sse`)));
  });

  afterAll(async () => {
    await client?.close().catch(() => {});
    await sidecar?.close();
    await legacyServer?.close();
    await modern?.close();
    await opa?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('initializes, lists tools filtered by the policy, and calls an allowed tool', async () => {
    expect(client.getServerVersion()?.name).toBe('sark-demo');
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['add', 'echo', 'get_time']);
    const result = await client.callTool({ name: 'echo', arguments: { text: 'legacy' } });
    expect((result.content as { text: string }[])[0]!.text).toBe('legacy');
    expect(legacyServer.executed).toEqual(['echo']);
  });

  it('a denied call is answered on the stream and never reaches the server', async () => {
    const before = legacyServer.received.length;
    await expect(client.callTool({ name: 'delete_file', arguments: { path: '/x' } })).rejects.toMatchObject({
      code: -32002,
    });
    expect(legacyServer.received.slice(before)).toEqual([]);
    expect(legacyServer.executed).not.toContain('delete_file');
  });

  it('a POST to an unknown session is refused; the session cannot be ridden by another agent', async () => {
    const res = await fetch(`${sidecar.dataUrl}/messages?sessionId=nope`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'delete_file' } }),
    });
    expect(res.status).toBe(404);
    const unknown = (await res.json()) as any;
    expect(unknown.error.code).toBe(-32009);
    expect(res.headers.get('x-sark-error')).toBe('SARK_SESSION_NOT_FOUND');

    // Another (even more privileged) agent posting into the anonymous client's session.
    const endpoint = (client.transport as unknown as { _endpoint: URL })._endpoint;
    const before = legacyServer.received.length;
    const ride = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'other-agent-key-0123456789' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'delete_file', arguments: {} },
      }),
    });
    // Answered exactly as an unknown session: a session id cannot be probed.
    expect(ride.status).toBe(404);
    const rode = (await ride.json()) as any;
    expect({ ...rode, error: { ...rode.error, data: { ...rode.error.data, request_id: 'x' } } }).toEqual({
      ...unknown,
      id: 2,
      error: { ...unknown.error, data: { ...unknown.error.data, request_id: 'x' } },
    });
    expect(legacyServer.received.length).toBe(before);
  });

  it('a 2026-07-28 envelope on the legacy transport is refused', async () => {
    const transport = client.transport as unknown as { _endpoint?: URL };
    const endpoint = transport._endpoint!;
    expect(endpoint.pathname).toBe('/messages');
    const before = legacyServer.received.length;
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/list',
        params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe(-32022);
    expect(legacyServer.received.length).toBe(before);
  });
});
