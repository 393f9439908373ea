/**
 * The era matrix (issue 8): real SDK clients × real SDK servers × response
 * shapes, each cell through SARK with the one bundled policy, against a direct
 * connection to the same server as the reference.
 *
 * clients  {v1 SDK, v2 SDK without negotiation (2025), v2 SDK negotiating ('auto')}
 * servers  {v1 SDK demo server, v2 SDK server (test/support/v2-server.ts)}
 * answers  {JSON, SSE}
 *
 * In every cell: the era negotiated through SARK is the era negotiated
 * directly (and 2026-07-28 for a negotiating client on the v2 server); the
 * allowed calls (echo, add, get_time with progress) give exactly the direct
 * results; tools/list is filtered to the anonymous agent's visible tools;
 * delete_file is answered -32002 and never reaches the server. The v1 server
 * rows use the embedded WASM policy, the v2 rows a real OPA server: the same
 * Rego either way.
 */
import type { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoServer } from '../../../src/demo/server.ts';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type Service, startOpa } from '../../support/services.ts';
import { connectV1Client, startTestSidecar } from '../../support/sidecar.ts';
import { connectV2Client } from '../../support/v2-client.ts';
import { startV2Server } from '../../support/v2-server.ts';

/**
 * What the policy lets the anonymous agent see and call on server "demo":
 * opa/data/data.json roles.anonymous.servers.demo.tools, all of catalogue
 * sensitivity "low" (the anonymous trust level), and `visible_tools` is
 * exactly the tools a call would be allowed for (gateway_authorization.rego).
 */
const ANONYMOUS_VISIBLE = ['add', 'echo', 'get_time'];

type ClientKind = 'v1 SDK' | 'v2 SDK, 2025' | 'v2 SDK, negotiating';
type ServerKind = 'v1 SDK' | 'v2 SDK';
type Responses = 'json' | 'sse';

interface Upstream {
  readonly url: string;
  readonly received: unknown[];
  readonly executed: string[];
  close(): Promise<void>;
}

interface Tool {
  name: string;
  [key: string]: unknown;
}

/** The calls a cell makes, the same for the v1 and the v2 client APIs. */
interface Driver {
  /** 'legacy' (2025 revisions) or 'modern' (2026-07-28). */
  readonly era: string | undefined;
  listTools(): Promise<Tool[]>;
  call(name: string, args: Record<string, unknown>, onprogress?: (progress: number) => void): Promise<unknown>;
  close(): Promise<void>;
}

async function connect(kind: ClientKind, url: string): Promise<Driver> {
  if (kind === 'v1 SDK') {
    const client: V1Client = await connectV1Client(url);
    return {
      era: 'legacy',
      listTools: async () => (await client.listTools()).tools as Tool[],
      call: (name, args, onprogress) =>
        client.callTool({ name, arguments: args }, undefined, {
          ...(onprogress ? { onprogress: (p: { progress: number }) => onprogress(p.progress) } : {}),
        }),
      close: () => client.close(),
    };
  }
  const client = await connectV2Client(url, kind === 'v2 SDK, 2025' ? '2025' : 'auto');
  return {
    era: client.getProtocolEra(),
    // Bypass the v2 client's response cache: every listing must cross SARK.
    listTools: async () => (await client.listTools(undefined, { cacheMode: 'bypass' })).tools as Tool[],
    call: (name, args, onprogress) =>
      client.callTool(
        { name, arguments: args },
        onprogress ? { onprogress: (p: { progress: number }) => onprogress(p.progress) } : {},
      ),
    close: () => client.close(),
  };
}

/** get_time's text is the server clock: equal up to the timestamp. */
function withoutClock(result: unknown): unknown {
  const copy = structuredClone(result) as { content?: { text?: string }[] };
  for (const c of copy.content ?? []) if (typeof c.text === 'string') c.text = c.text.replace(/^\d{4}-.*Z$/, '<time>');
  return copy;
}

const SERVERS: { server: ServerKind; responses: Responses; engine: 'wasm' | 'opa' }[] = [
  { server: 'v1 SDK', responses: 'json', engine: 'wasm' },
  { server: 'v1 SDK', responses: 'sse', engine: 'wasm' },
  { server: 'v2 SDK', responses: 'json', engine: 'opa' },
  { server: 'v2 SDK', responses: 'sse', engine: 'opa' },
];
const CLIENTS: ClientKind[] = ['v1 SDK', 'v2 SDK, 2025', 'v2 SDK, negotiating'];

describe('era matrix through SARK', () => {
  let opa: Service | undefined;

  beforeAll(async () => {
    opa = await startOpa();
  });

  afterAll(async () => {
    await opa?.stop();
  });

  describe.each(SERVERS)('$server server, $responses responses ($engine policy)', ({ server, responses, engine }) => {
    let upstream: Upstream;
    let sidecar: Sidecar;

    beforeAll(async () => {
      upstream =
        server === 'v1 SDK'
          ? await startDemoServer({ jsonResponse: responses === 'json' })
          : await startV2Server({ responses });
      sidecar = await startTestSidecar([
        '--upstream-url',
        upstream.url,
        ...(engine === 'opa' ? ['--opa-url', opa!.url, '--opa-timeout-ms', '500'] : []),
      ]);
    });

    afterAll(async () => {
      await sidecar?.close();
      await upstream?.close();
    });

    describe.each(CLIENTS)('%s client', (clientKind) => {
      let direct: Driver;
      let through: Driver;

      beforeAll(async () => {
        direct = await connect(clientKind, upstream.url);
        through = await connect(clientKind, sidecar.mcpUrl);
      });

      afterAll(async () => {
        await through?.close().catch(() => {});
        await direct?.close().catch(() => {});
      });

      it('negotiates the same era through SARK as directly', () => {
        expect(through.era).toBe(direct.era);
        if (server === 'v2 SDK' && clientKind === 'v2 SDK, negotiating') expect(through.era).toBe('modern');
        else expect(through.era).toBe('legacy');
      });

      it('tools/list shows exactly the tools the policy lets the agent call, unchanged', async () => {
        const [all, filtered] = await Promise.all([direct.listTools(), through.listTools()]);
        expect(filtered.map((t) => t.name).sort()).toEqual(ANONYMOUS_VISIBLE);
        expect(filtered).toEqual(all.filter((t) => ANONYMOUS_VISIBLE.includes(t.name)));
      });

      it('allowed calls give the results of a direct connection', async () => {
        for (const [name, args] of [
          ['echo', { text: `hello ${server} ${responses} ${clientKind}` }],
          ['add', { a: 19, b: 23 }],
        ] as const) {
          expect(await through.call(name, args)).toEqual(await direct.call(name, args));
        }
        const before = upstream.executed.length;
        expect(await through.call('echo', { text: 'once' })).toBeDefined();
        expect(upstream.executed.slice(before)).toEqual(['echo']);
      });

      it('get_time with a progress token: same progress and result as directly (SSE upgrade)', async () => {
        const directProgress: number[] = [];
        const throughProgress: number[] = [];
        const expected = await direct.call('get_time', {}, (p) => directProgress.push(p));
        const actual = await through.call('get_time', {}, (p) => throughProgress.push(p));
        expect(withoutClock(actual)).toEqual(withoutClock(expected));
        expect(throughProgress).toEqual(directProgress);
      });

      it('a denied call (delete_file) is answered -32002 and never reaches the server', async () => {
        const before = upstream.received.length;
        await expect(through.call('delete_file', { path: '/tmp/sark-demo/x' })).rejects.toMatchObject({
          code: -32002,
        });
        const reached = upstream.received.slice(before) as { method?: string; params?: { name?: string } }[];
        expect(reached.filter((m) => m.params?.name === 'delete_file')).toEqual([]);
        expect(upstream.executed).not.toContain('delete_file');
      });
    });
  });
});
