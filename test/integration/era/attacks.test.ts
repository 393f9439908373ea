/**
 * Attack cases for the MCP 2026-07-28 era (issue 8), as raw HTTP against SARK
 * in front of a real SDK v2 server that records every request it gets.
 *
 * A 2026-07-28 request carries its routing facts twice: in the headers
 * (MCP-Protocol-Version, Mcp-Method, Mcp-Name) and in the body (the method,
 * `params.name`/`uri`, `params._meta["io.modelcontextprotocol/protocolVersion"]`).
 * Anything that routes on the headers behind SARK must see what the policy saw,
 * so a disagreement, a missing required header or a repeated one is refused
 * before the policy is asked: HTTP 400, JSON-RPC -32020 (the code the v2
 * server itself answers, ../shared/reference/mcp-2026-header-checks.txt), and
 * nothing forwarded. The refusals are checked against the server's record, not
 * only against SARK's answer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type RawUpstream, startRawUpstream } from '../../support/raw-upstream.ts';
import { startTestSidecar } from '../../support/sidecar.ts';
import { startV2Server, type V2Server } from '../../support/v2-server.ts';
import { BASE_HEADERS, type HeaderLines, rawSend, rawStream } from './raw-http.ts';

const V2026 = '2026-07-28';
const FUTURE = '2027-03-31';
const DEV_KEY = 'era-dev-key-0123456789abcdef';

function envelope(version = V2026): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': version,
    'io.modelcontextprotocol/clientInfo': { name: 'attacker', version: '6.6.6' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
}

function rpc(id: number | string, method: string, params: Record<string, unknown>, version = V2026): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: envelope(version) } });
}

function callBody(name: string, args: Record<string, unknown> = { text: 'x' }, id: number | string = 1): string {
  return rpc(id, 'tools/call', { name, arguments: args });
}

/** The headers a conforming 2026 client sends for a call of `name`. */
function callHeaders(name: string): HeaderLines {
  return [...BASE_HEADERS, ['mcp-protocol-version', V2026], ['mcp-method', 'tools/call'], ['mcp-name', name]];
}

const without = (lines: HeaderLines, name: string): HeaderLines => lines.filter(([n]) => n.toLowerCase() !== name);

describe('MCP 2026-07-28 attack cases through SARK', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sark-era-'));
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify([{ key: DEV_KEY, agentId: 'agent-dev', roles: ['developer'] }]));
  let upstream: V2Server;
  let sidecar: Sidecar;
  let seen: number;

  beforeAll(async () => {
    // A long, public cache hint on tools/list: SARK must not pass it on for a list it filtered.
    upstream = await startV2Server({
      responses: 'json',
      toolsListCacheHint: { ttlMs: 3_600_000, cacheScope: 'public' },
    });
    sidecar = await startTestSidecar(['--upstream-url', upstream.url, '--api-keys-file', keysFile]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    seen = upstream.requests.length;
  });

  /** What reached the server since the test began. */
  const reached = () => upstream.requests.slice(seen);

  function expectRefused(res: { status: number; json: any; text: string }, status: number, code: number): void {
    expect({ status: res.status, code: res.json?.error?.code }, res.text).toEqual({ status, code });
    expect(reached()).toEqual([]);
    expect(upstream.executed).not.toContain('delete_file');
  }

  describe('headers and body must agree (-32020, nothing forwarded)', () => {
    const cases: { case: string; headers: HeaderLines; body: string }[] = [
      {
        case: 'Mcp-Name names an allowed tool, the body a denied one',
        headers: callHeaders('echo'),
        body: callBody('delete_file', { path: '/tmp/sark-demo/x' }),
      },
      {
        case: 'Mcp-Name names a denied tool, the body an allowed one',
        headers: callHeaders('delete_file'),
        body: callBody('echo'),
      },
      {
        case: 'Mcp-Method says tools/list, the body is tools/call',
        headers: [...BASE_HEADERS, ['mcp-protocol-version', V2026], ['mcp-method', 'tools/list']],
        body: callBody('echo'),
      },
      {
        case: 'Mcp-Method says tools/call, the body is tools/list',
        headers: callHeaders('echo'),
        body: rpc(1, 'tools/list', {}),
      },
      {
        case: 'MCP-Protocol-Version missing, the body carries a 2026 envelope',
        headers: without(callHeaders('echo'), 'mcp-protocol-version'),
        body: callBody('echo'),
      },
      {
        case: 'MCP-Protocol-Version 2025-11-25, the envelope 2026-07-28',
        headers: [...without(callHeaders('echo'), 'mcp-protocol-version'), ['mcp-protocol-version', '2025-11-25']],
        body: callBody('echo'),
      },
      {
        case: 'Mcp-Method missing',
        headers: without(callHeaders('echo'), 'mcp-method'),
        body: callBody('echo'),
      },
      {
        case: 'Mcp-Name missing on tools/call',
        headers: without(callHeaders('echo'), 'mcp-name'),
        body: callBody('echo'),
      },
      {
        case: 'Mcp-Name names one resource, the resources/read body another',
        headers: [
          ...BASE_HEADERS,
          ['mcp-protocol-version', V2026],
          ['mcp-method', 'resources/read'],
          ['mcp-name', 'demo://readme'],
        ],
        body: rpc(1, 'resources/read', { uri: 'secret://keys' }),
      },
      {
        case: 'Mcp-Name repeated (same value twice)',
        headers: [...callHeaders('echo'), ['mcp-name', 'echo']],
        body: callBody('echo'),
      },
      {
        case: 'Mcp-Name repeated (echo, then delete_file)',
        headers: [...callHeaders('echo'), ['mcp-name', 'delete_file']],
        body: callBody('echo'),
      },
      {
        case: 'Mcp-Method repeated',
        headers: [...callHeaders('echo'), ['mcp-method', 'tools/call']],
        body: callBody('echo'),
      },
      {
        case: 'MCP-Protocol-Version repeated',
        headers: [...callHeaders('echo'), ['mcp-protocol-version', V2026]],
        body: callBody('echo'),
      },
      {
        case: 'Mcp-Name in another letter case than the body (names are case-sensitive)',
        headers: callHeaders('ECHO'),
        body: callBody('echo'),
      },
      {
        case: 'Mcp-Method in another letter case than the body',
        headers: [...without(callHeaders('echo'), 'mcp-method'), ['mcp-method', 'Tools/Call']],
        body: callBody('echo'),
      },
      {
        case: 'the body name carries trailing whitespace the header cannot carry',
        headers: callHeaders('echo'),
        body: callBody('echo '),
      },
    ];

    it.each(cases)('$case', async ({ headers, body }) => {
      const res = await rawSend(sidecar.mcpUrl, headers, body);
      expectRefused(res, 400, -32020);
    });
  });

  describe('header names are case-insensitive and values are trimmed (RFC 9110 §5.1, §5.5)', () => {
    it('MCP-NAME / Mcp-Method in odd case, values padded with spaces: accepted and forwarded', async () => {
      const res = await rawSend(
        sidecar.mcpUrl,
        [...BASE_HEADERS, ['MCP-PROTOCOL-VERSION', V2026], ['mCp-MeThOd', '  tools/call'], ['MCP-NAME', 'echo   ']],
        callBody('echo', { text: 'padded' }),
      );
      expect(res.status, res.text).toBe(200);
      expect(res.json.result.content).toEqual([{ type: 'text', text: 'padded' }]);
      const [got] = reached();
      expect(got?.headers['mcp-method']).toEqual(['tools/call']);
      expect(got?.headers['mcp-name']).toEqual(['echo']);
    });
  });

  describe('what reaches the server carries headers that equal the authorized body', () => {
    it('an allowed tools/call: one mcp-method, one mcp-name, one mcp-protocol-version, equal to the body', async () => {
      const res = await rawSend(sidecar.mcpUrl, callHeaders('echo'), callBody('echo', { text: 'through' }, 'h-1'));
      expect(res.status, res.text).toBe(200);
      expect(res.json).toMatchObject({ id: 'h-1', result: { content: [{ type: 'text', text: 'through' }] } });
      const [got, ...more] = reached();
      expect(more).toEqual([]);
      const body = got!.body as { method: string; params: { name: string; _meta: Record<string, unknown> } };
      expect(got!.headers['mcp-method']).toEqual([body.method]);
      expect(got!.headers['mcp-name']).toEqual([body.params.name]);
      expect(got!.headers['mcp-protocol-version']).toEqual([
        body.params._meta['io.modelcontextprotocol/protocolVersion'],
      ]);
      expect(body.params.name).toBe('echo');
    });

    it('an allowed tools/list: mcp-method equals the body, no mcp-name', async () => {
      const res = await rawSend(
        sidecar.mcpUrl,
        [...BASE_HEADERS, ['mcp-protocol-version', V2026], ['mcp-method', 'tools/list']],
        rpc(2, 'tools/list', {}),
      );
      expect(res.status, res.text).toBe(200);
      const [got] = reached();
      expect(got!.headers['mcp-method']).toEqual(['tools/list']);
      expect(got!.headers['mcp-name']).toBeUndefined();
    });

    // Refusing or stripping both satisfy the rule; forwarding the stray header does not.
    it('an Mcp-Name on a method that names nothing (tools/list) never reaches the server', async () => {
      await rawSend(
        sidecar.mcpUrl,
        [...BASE_HEADERS, ['mcp-protocol-version', V2026], ['mcp-method', 'tools/list'], ['mcp-name', 'delete_file']],
        rpc(4, 'tools/list', {}),
      );
      for (const r of reached()) expect(r.headers['mcp-name']).toBeUndefined();
    });

    it('an Mcp-Param-* header (SEP-2243) disagreeing with the arguments never reaches the server', async () => {
      await rawSend(
        sidecar.mcpUrl,
        [...callHeaders('echo'), ['mcp-param-text', 'goodbye']],
        callBody('echo', { text: 'hello' }),
      );
      for (const r of reached()) expect(r.headers['mcp-param-text'] ?? ['hello']).toEqual(['hello']);
    });

    it('server/discover passes, with its headers', async () => {
      const res = await rawSend(
        sidecar.mcpUrl,
        [...BASE_HEADERS, ['mcp-protocol-version', V2026], ['mcp-method', 'server/discover']],
        rpc('probe', 'server/discover', {}),
      );
      expect(res.status, res.text).toBe(200);
      expect(res.json.result.supportedVersions).toContain(V2026);
      expect(reached().map((r) => r.headers['mcp-method'])).toEqual([['server/discover']]);
    });
  });

  describe('results filtered for one caller (issue 8, "Results")', () => {
    it('a 2026 tools/list is filtered, never marked public, and kept no longer than the decision cache (30 s)', async () => {
      const res = await rawSend(
        sidecar.mcpUrl,
        [...BASE_HEADERS, ['mcp-protocol-version', V2026], ['mcp-method', 'tools/list']],
        rpc(3, 'tools/list', {}),
      );
      expect(res.status, res.text).toBe(200);
      const result = res.json.result as { tools: { name: string }[]; ttlMs: number; cacheScope: string };
      expect(result.tools.map((t) => t.name).sort()).toEqual(['add', 'echo', 'get_time']);
      expect(result.cacheScope).toBe('private');
      expect(result.ttlMs).toBeLessThanOrEqual(30_000);
    });
  });

  describe('protocol versions SARK does not implement are refused, never forwarded', () => {
    it('a future version in the header and the envelope: 400 with the spec’s unsupported-version error', async () => {
      const res = await rawSend(
        sidecar.mcpUrl,
        [...BASE_HEADERS, ['mcp-protocol-version', FUTURE], ['mcp-method', 'tools/call'], ['mcp-name', 'echo']],
        rpc(1, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, FUTURE),
      );
      // -32022 UnsupportedProtocolVersion with data.supported: what the v2 server
      // answers, and what a v2 client's negotiation recognizes to select a
      // mutual version and continue.
      expectRefused(res, 400, -32022);
      expect(res.json.error.data.supported).toContain(V2026);
      expect(res.json.error.data.supported).not.toContain(FUTURE);
    });
  });

  describe('a 2025 initialize offering a later revision is negotiated, as without SARK', () => {
    // MCP 2025-11-25, "Lifecycle", version negotiation: the client offers the
    // latest version it supports; a server that does not support it MUST
    // answer with another version it supports. The offer is not a claim that
    // the request speaks that revision, so refusing it breaks clients newer
    // than SARK that would otherwise fall back to a revision both sides know.
    it('initialize with protocolVersion 2027-03-31 is answered with a revision SARK implements', async () => {
      const res = await rawSend(
        sidecar.mcpUrl,
        BASE_HEADERS,
        JSON.stringify({
          jsonrpc: '2.0',
          id: 0,
          method: 'initialize',
          params: { protocolVersion: FUTURE, capabilities: {}, clientInfo: { name: 'newer-client', version: '9' } },
        }),
      );
      expect(res.status, res.text).toBe(200);
      expect(['2025-06-18', '2025-11-25']).toContain(res.json?.result?.protocolVersion);
    });
  });

  describe('batches may not carry 2026-07-28 requests (-32600)', () => {
    it('a batch whose element carries the 2026 envelope, header set', async () => {
      const res = await rawSend(
        sidecar.mcpUrl,
        [...BASE_HEADERS, ['mcp-protocol-version', V2026]],
        `[${callBody('echo', { text: 'a' }, 1)},${callBody('echo', { text: 'b' }, 2)}]`,
      );
      expectRefused(res, 400, -32600);
    });

    it('a batch mixing a 2025 call and a 2026 envelope, no version header', async () => {
      const legacy = JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'echo', arguments: { text: 'a' } },
      });
      const res = await rawSend(
        sidecar.mcpUrl,
        BASE_HEADERS,
        `[${legacy},${callBody('delete_file', { path: '/x' }, 2)}]`,
      );
      expectRefused(res, 400, -32600);
    });
  });

  describe('a 2025 call without session or initialize is ordinary traffic', () => {
    const legacyCall = (name: string, args: Record<string, unknown>) =>
      JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args } });

    it.each([
      ['no version header', BASE_HEADERS],
      ['MCP-Protocol-Version 2025-11-25', [...BASE_HEADERS, ['mcp-protocol-version', '2025-11-25']] as HeaderLines],
    ])('allowed echo reaches the server and answers (%s)', async (_label, headers) => {
      const res = await rawSend(sidecar.mcpUrl, headers, legacyCall('echo', { text: 'stateless' }));
      expect(res.status, res.text).toBe(200);
      expect(res.json).toMatchObject({ id: 7, result: { content: [{ type: 'text', text: 'stateless' }] } });
      expect(upstream.executed.at(-1)).toBe('echo');
      expect(reached()).toHaveLength(1);
    });

    it('denied delete_file is answered -32002 and never reaches the server', async () => {
      const res = await rawSend(sidecar.mcpUrl, BASE_HEADERS, legacyCall('delete_file', { path: '/tmp/sark-demo/x' }));
      expect(res.json?.error?.code, res.text).toBe(-32002);
      expect(reached()).toEqual([]);
      expect(upstream.executed).not.toContain('delete_file');
    });
  });

  describe('subscriptions/listen is authorized like the reads it covers', () => {
    const listenHeaders = (extra: HeaderLines = []): HeaderLines => [
      ...BASE_HEADERS,
      ['mcp-protocol-version', V2026],
      ['mcp-method', 'subscriptions/listen'],
      ...extra,
    ];
    const listenBody = (uris: string[]) =>
      rpc('listen-1', 'subscriptions/listen', { notifications: { resourceSubscriptions: uris } });

    /**
     * Opens the listen stream and returns its first JSON-RPC message: SARK's
     * refusal, or (when SARK let it through) the server's acknowledgement.
     * The stream is closed either way, so a wrongly opened one costs no time.
     */
    async function firstAnswer(headers: HeaderLines, uris: string[]): Promise<any> {
      const stream = await rawStream(sidecar.mcpUrl, headers, listenBody(uris));
      try {
        return await stream.next((m) => m.error !== undefined || m.method !== undefined || m.result !== undefined);
      } finally {
        stream.close();
      }
    }

    it.each([
      ['the anonymous agent (no resource grant) subscribing to a resource', [], ['demo://readme']],
      [
        'a developer subscribing to a resource its role denies (secret://*)',
        [['x-api-key', DEV_KEY]],
        ['secret://keys'],
      ],
      [
        'a developer subscribing to a readable resource and a denied one',
        [['x-api-key', DEV_KEY]],
        ['demo://readme', 'secret://keys'],
      ],
    ] as [string, HeaderLines, string[]][])('%s: -32002, nothing forwarded', async (_label, extra, uris) => {
      const answer = await firstAnswer(listenHeaders(extra), uris);
      expect(answer?.error?.code, JSON.stringify(answer)).toBe(-32002);
      expect(reached()).toEqual([]);
    });

    it('a developer subscribing to a readable resource gets the ack and its updates through SARK', async () => {
      const stream = await rawStream(
        sidecar.mcpUrl,
        listenHeaders([['x-api-key', DEV_KEY]]),
        listenBody(['demo://readme']),
      );
      try {
        expect(stream.status).toBe(200);
        const ack = await stream.next((m) => m.method === 'notifications/subscriptions/acknowledged');
        expect(ack.params.notifications.resourceSubscriptions).toEqual(['demo://readme']);
        upstream.resourceUpdated('demo://readme');
        const update = await stream.next((m) => m.method === 'notifications/resources/updated');
        expect(update.params.uri).toBe('demo://readme');
        expect(reached().map((r) => r.headers['mcp-method'])).toEqual([['subscriptions/listen']]);
      } finally {
        stream.close();
      }
    });
  });
});

describe('subscriptions/listen: notifications for resources the agent may not read are dropped', () => {
  // The SDK server only sends updates a subscription opted in to, so a
  // scripted upstream plays a server that sends one it should not have.
  const dir = mkdtempSync(join(tmpdir(), 'sark-era-drop-'));
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify([{ key: DEV_KEY, agentId: 'agent-dev', roles: ['developer'] }]));
  let upstream: RawUpstream;
  let sidecar: Sidecar;

  beforeAll(async () => {
    upstream = await startRawUpstream();
    sidecar = await startTestSidecar(['--upstream-url', upstream.url, '--api-keys-file', keysFile]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an update for secret://keys on a stream subscribed to demo://readme never reaches the developer', async () => {
    const meta = { 'io.modelcontextprotocol/subscriptionId': 'listen-1' };
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const m of [
        {
          method: 'notifications/subscriptions/acknowledged',
          params: { notifications: { resourceSubscriptions: ['demo://readme'] }, _meta: meta },
        },
        { method: 'notifications/resources/updated', params: { uri: 'secret://keys', _meta: meta } },
        { method: 'notifications/resources/updated', params: { uri: 'demo://readme', _meta: meta } },
      ]) {
        res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', ...m })}\n\n`);
      }
      res.end();
    };
    const res = await rawSend(
      sidecar.mcpUrl,
      [
        ...BASE_HEADERS,
        ['mcp-protocol-version', V2026],
        ['mcp-method', 'subscriptions/listen'],
        ['x-api-key', DEV_KEY],
      ],
      rpc('listen-1', 'subscriptions/listen', { notifications: { resourceSubscriptions: ['demo://readme'] } }),
    );
    expect(res.status, res.text).toBe(200);
    expect(upstream.captured).toHaveLength(1);
    const updated = res.events.filter((m) => m.method === 'notifications/resources/updated').map((m) => m.params.uri);
    expect(updated).toEqual(['demo://readme']);
  });
});
