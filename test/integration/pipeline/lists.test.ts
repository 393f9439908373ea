/**
 * What a caller is shown, completed and allowed to use never differ: a
 * caller granted `ok_*` prompts and `file:///public/*` resources sees only
 * those in prompts/list, resources/list and resources/templates/list (JSON
 * and SSE answers, through the official SDK client), and a completion of
 * `secret_prompt` or of the template `secret://{id}` is refused exactly as
 * prompts/get and resources/read are. Real OPA with the repo policy plus a
 * role for this test, a real SDK server.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type CatalogServer, startCatalogServer } from '../../support/catalog-server.ts';
import { ROOT, type Service, startOpa } from '../../support/services.ts';
import { connectV1Client, rawPost, startTestSidecar } from '../../support/sidecar.ts';

const dir = mkdtempSync(join(tmpdir(), 'sark-lists-'));
const KEY = 'prompter-key-0123456789abcdef';
writeFileSync(join(dir, 'keys.json'), JSON.stringify([{ key: KEY, agentId: 'prompter-1', roles: ['prompter'] }]));
writeOverlay();

function writeOverlay(): void {
  // A role granted some prompts and resources of the demo server, and the list and completion actions.
  const overlay = {
    sark: {
      roles: {
        prompter: {
          description: 'test: ok_* prompts and public files only',
          trust_level: 'medium',
          servers: {
            demo: {
              tools: ['echo'],
              prompts: ['ok_*'],
              resources: ['file:///public/*'],
              actions: ['gateway:prompts:list', 'gateway:resources:list', 'gateway:completion:complete'],
            },
          },
        },
      },
    },
  };
  const d = join(dir, 'data');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'data.json'), JSON.stringify(overlay));
}

let opa: Service;

beforeAll(async () => {
  opa = await startOpa({ paths: [join(ROOT, 'opa/policies'), join(ROOT, 'opa/data'), join(dir, 'data')] });
});

afterAll(async () => {
  await opa?.stop();
  rmSync(dir, { recursive: true, force: true });
});

for (const responses of ['json', 'sse'] as const) {
  describe(`per-caller lists and completions (${responses} answers)`, () => {
    let upstream: CatalogServer;
    let sidecar: Sidecar;
    let client: Client;

    beforeAll(async () => {
      upstream = await startCatalogServer({ responses });
      sidecar = await startTestSidecar([
        '--upstream-url',
        upstream.url,
        '--opa-url',
        opa.url,
        '--opa-timeout-ms',
        '2000',
        '--api-keys-file',
        join(dir, 'keys.json'),
      ]);
      client = await connectV1Client(sidecar.mcpUrl, { 'x-api-key': KEY });
    });

    afterAll(async () => {
      await client?.close();
      await sidecar?.close();
      await upstream?.close();
    });

    it('prompts/list shows only the prompts the caller may get', async () => {
      const { prompts } = await client.listPrompts();
      expect(prompts.map((p) => p.name).sort()).toEqual(['ok_greeting', 'ok_summary']);
      await expect(client.getPrompt({ name: 'secret_prompt', arguments: { topic: 'x' } })).rejects.toThrow(/denied/i);
      expect((await client.getPrompt({ name: 'ok_greeting', arguments: { topic: 'x' } })).messages).toHaveLength(1);
    });

    it('resources/list and resources/templates/list show only what the caller may read', async () => {
      const { resources } = await client.listResources();
      expect(resources.map((r) => r.uri)).toEqual(['file:///public/readme']);
      const { resourceTemplates } = await client.listResourceTemplates();
      expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(['file:///public/{name}']);
      await expect(client.readResource({ uri: 'secret://keys' })).rejects.toThrow(/denied/i);
    });

    it('completion is decided against the prompt or template it references', async () => {
      const ok = await client.complete({
        ref: { type: 'ref/prompt', name: 'ok_greeting' },
        argument: { name: 'topic', value: 'a' },
      });
      expect(ok.completion.values).toEqual(['ok_greeting:a:1', 'ok_greeting:a:2']);
      const before = upstream.received.length;
      await expect(
        client.complete({
          ref: { type: 'ref/prompt', name: 'secret_prompt' },
          argument: { name: 'topic', value: 'a' },
        }),
      ).rejects.toThrow(/denied/i);
      await expect(
        client.complete({ ref: { type: 'ref/resource', uri: 'secret://{id}' }, argument: { name: 'id', value: 'a' } }),
      ).rejects.toThrow(/denied/i);
      expect(upstream.received.length).toBe(before);
      const file = await client.complete({
        ref: { type: 'ref/resource', uri: 'file:///public/{name}' },
        argument: { name: 'name', value: 'x' },
      });
      expect(file.completion.values).toEqual(['xdoc']);
    });
  });
}

describe('a batch answer is filtered request by request', () => {
  it('tools/list and prompts/list in one batch each get their own filter', async () => {
    const upstream = await startCatalogServer({ responses: 'json' });
    const sidecar = await startTestSidecar([
      '--upstream-url',
      upstream.url,
      '--opa-url',
      opa.url,
      '--opa-timeout-ms',
      '2000',
      '--api-keys-file',
      join(dir, 'keys.json'),
    ]);
    try {
      const h = { 'x-api-key': KEY, 'mcp-protocol-version': '2025-03-26' };
      const init = await rawPost(
        sidecar.mcpUrl,
        JSON.stringify({
          jsonrpc: '2.0',
          id: 0,
          method: 'initialize',
          params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 't', version: '1' } },
        }),
        h,
      );
      const session = init.headers.get('mcp-session-id')!;
      const s = { ...h, 'mcp-session-id': session };
      await rawPost(sidecar.mcpUrl, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), s);
      // The attack of issue 13: the same id twice makes the filter plan ambiguous; SARK refuses the batch.
      const dup = await rawPost(
        sidecar.mcpUrl,
        JSON.stringify([
          { jsonrpc: '2.0', id: 1, method: 'tools/list' },
          { jsonrpc: '2.0', id: 1, method: 'prompts/list' },
        ]),
        s,
      );
      expect(dup.status).toBe(400);
      expect(dup.json.error.code).toBe(-32600);
      expect(dup.json.error.message).toMatch(/repeats the request id 1/);
      const ok = await rawPost(
        sidecar.mcpUrl,
        JSON.stringify([
          { jsonrpc: '2.0', id: 1, method: 'tools/list' },
          { jsonrpc: '2.0', id: 2, method: 'prompts/list' },
        ]),
        s,
      );
      expect(ok.status).toBe(200);
      const byId = new Map((ok.json as any[]).map((m) => [m.id, m.result]));
      expect(byId.get(1).tools.map((t: { name: string }) => t.name)).toEqual(['echo']);
      expect(
        byId
          .get(2)
          .prompts.map((p: { name: string }) => p.name)
          .sort(),
      ).toEqual(['ok_greeting', 'ok_summary']);
    } finally {
      await sidecar.close();
      await upstream.close();
    }
  });
});
