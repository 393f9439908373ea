/**
 * The inline enforcement path end to end, on real parts: the official MCP SDK
 * client talks through SARK to the official SDK server (SSE and JSON
 * responses), with a real OPA server deciding.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../../src/demo/server.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { scrape, sumOf } from '../support/metrics-text.ts';
import { type Service, startOpa, waitFor } from '../support/services.ts';
import { connectV1Client, rawPost, startTestSidecar } from '../support/sidecar.ts';

function textOf(result: unknown): string {
  return ((result as { content: { text: string }[] }).content[0] as { text: string }).text;
}

async function readyStatus(sidecar: Sidecar): Promise<number> {
  const res = await fetch(`${sidecar.adminUrl}/readyz`);
  await res.arrayBuffer();
  return res.status;
}

for (const mode of ['sse', 'json'] as const) {
  describe(`enforcement through SARK with real OPA (${mode} responses)`, () => {
    let opa: Service;
    let upstream: DemoServer;
    let sidecar: Sidecar;
    let client: Client;

    beforeAll(async () => {
      [opa, upstream] = await Promise.all([startOpa(), startDemoServer({ jsonResponse: mode === 'json' })]);
      // A generous deadline: this suite is about behaviour, not the 25 ms default.
      sidecar = await startTestSidecar([
        '--opa-url',
        opa.url,
        '--upstream-url',
        upstream.url,
        '--opa-timeout-ms',
        '500',
      ]);
      client = await connectV1Client(sidecar.mcpUrl);
    });

    afterAll(async () => {
      await client?.close().catch(() => {});
      await sidecar?.close();
      await upstream?.close();
      await opa?.stop();
    });

    it('initialize, tools/list and an allowed tools/call pass unchanged', async () => {
      expect(client.getServerVersion()?.name).toBe('sark-demo');
      // tools/list is filtered to what the anonymous agent may call.
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['add', 'echo', 'get_time']);
      const result = await client.callTool({ name: 'echo', arguments: { text: 'hello through sark' } });
      expect(textOf(result)).toBe('hello through sark');
      expect(upstream.executed).toContain('echo');
    });

    it('streams progress notifications before the result', async () => {
      const progress: number[] = [];
      const result = await client.callTool({ name: 'get_time', arguments: {} }, undefined, {
        onprogress: (p) => progress.push(p.progress),
      });
      expect(textOf(result)).toMatch(/^\d{4}-\d\d-\d\dT/);
      if (mode === 'sse') expect(progress).toEqual([1]);
    });

    it('a denied tools/call gets the JSON-RPC error and never reaches the server', async () => {
      const before = upstream.received.length;
      await expect(client.callTool({ name: 'delete_file', arguments: { path: '/etc/passwd' } })).rejects.toMatchObject({
        code: -32002,
      });
      expect(upstream.executed).not.toContain('delete_file');
      const after = upstream.received.slice(before) as { params?: { name?: string } }[];
      expect(after.some((m) => m.params?.name === 'delete_file')).toBe(false);
    });

    it('a denied call answered raw carries the request id, code and a safe reason', async () => {
      const res = await rawPost(
        sidecar.mcpUrl,
        JSON.stringify({
          jsonrpc: '2.0',
          id: 'req-77',
          method: 'tools/call',
          params: { name: 'delete_file', arguments: {} },
        }),
      );
      expect(res.status).toBe(200);
      expect(res.headers.get('x-sark-error')).toBe('SARK_POLICY_DENIED');
      expect(res.json.id).toBe('req-77');
      expect(res.json.error.code).toBe(-32002);
      expect(res.json.error.message).toMatch(/^Forbidden: denied by policy/);
      expect(res.json.error.data.reasons[0].code).toMatch(/^[a-z_]+$/);
    });

    it('OPA stopped → deny and not ready; OPA back → allow again', async () => {
      await opa.kill();
      await expect(client.callTool({ name: 'echo', arguments: { text: 'x' } })).rejects.toMatchObject({ code: -32003 });
      expect(await readyStatus(sidecar)).toBe(503);
      await opa.restart();
      await waitFor('readyz', async () => (await readyStatus(sidecar)) === 200, 15_000);
      const result = await client.callTool({ name: 'echo', arguments: { text: 'back' } });
      expect(textOf(result)).toBe('back');
    });

    it('OPA frozen (SIGSTOP) → deny after the timeout', async () => {
      const executedBefore = upstream.executed.length;
      opa.freeze();
      try {
        const started = Date.now();
        const res = await rawPost(
          sidecar.mcpUrl,
          JSON.stringify({
            jsonrpc: '2.0',
            id: 9,
            method: 'tools/call',
            params: { name: 'echo', arguments: { text: 'x' } },
          }),
        );
        const elapsed = Date.now() - started;
        expect(res.json.error.code).toBe(-32003);
        expect(res.headers.get('x-sark-error')).toBe('SARK_POLICY_TIMEOUT');
        expect(elapsed).toBeGreaterThanOrEqual(450);
      } finally {
        opa.thaw();
      }
      expect(upstream.executed.length).toBe(executedBefore);
      await waitFor('readyz', async () => (await readyStatus(sidecar)) === 200, 15_000);
    });

    it('metrics count requests and decisions and time decisions', async () => {
      const m = await scrape(sidecar.adminUrl);
      expect(sumOf(m, 'sark_requests_total', { method: 'tools/call', outcome: 'allow' })).toBeGreaterThan(0);
      expect(sumOf(m, 'sark_decisions_total', { decision: 'deny', reason: 'policy_timeout' })).toBe(1);
      expect(sumOf(m, 'sark_decisions_total', { decision: 'deny', reason: 'policy_unavailable' })).toBeGreaterThan(0);
      expect(sumOf(m, 'sark_decision_duration_seconds_count', { engine: 'opa' })).toBeGreaterThan(0);
    });

    it('closes the session with DELETE through SARK', async () => {
      const transport = client.transport as unknown as { terminateSession(): Promise<void>; sessionId?: string };
      expect(transport.sessionId).toBeTruthy();
      await transport.terminateSession();
      expect(transport.sessionId).toBeUndefined();
    });
  });
}
