/**
 * Conformance: with an allow-all policy, the official MCP SDK v1 client sees
 * no difference between talking to an SDK server directly and talking to it
 * through SARK. For JSON and SSE response modes, one client connects directly
 * and one through SARK, both run the same script (tools, resources, prompts,
 * completion, logging, progress, sampling, elicitation, roots, ping, errors,
 * and SSE resumption with Last-Event-ID on POST-response and GET streams),
 * and the transcripts must be deep-equal. Nothing is normalised: the fixture
 * server's answers are deterministic, and session ids never appear in them.
 *
 * The upstream's own record must match too: the same JSON-RPC messages, in
 * the same order, on the direct session and on the SARK session; the same
 * headers of interest except those SARK sets on purpose (accept-encoding:
 * identity). See docs/conformance.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  type LoggingMessageNotification,
  LoggingMessageNotificationSchema,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../src/sidecar.ts';
import { type ConformanceServer, startConformanceServer } from '../support/conformance-server.ts';
import { type Service, startOpa, waitFor } from '../support/services.ts';
import { startTestSidecar } from '../support/sidecar.ts';

const ALLOW_ALL = 'package sark.gateway\n\ndecision := {"allow": true, "reasons": []}\n';
const PROTOCOL = '2025-11-25';
const STEP_MS = 5_000;

type Mode = 'json' | 'sse';
type Settled = { ok: unknown } | { error: { code: unknown; message: string; data: unknown } };
type LogParams = LoggingMessageNotification['params'];

async function settle(p: Promise<unknown>): Promise<Settled> {
  try {
    return { ok: await p };
  } catch (err) {
    const e = err as { code?: unknown; message: string; data?: unknown };
    return { error: { code: e.code, message: e.message, data: e.data } };
  }
}

interface Connection {
  client: Client;
  transport: StreamableHTTPClientTransport;
  sessionId: string;
  logs: LogParams[];
  close(): Promise<void>;
}

/** An SDK v1 client with sampling, elicitation and roots, answering deterministically. */
async function connect(url: string, server: ConformanceServer): Promise<Connection> {
  const client = new Client(
    { name: 'conformance-client', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    const first = req.params.messages[0]?.content;
    const said = first && 'text' in first ? first.text : '';
    return {
      model: 'fixture-model',
      role: 'assistant',
      content: { type: 'text', text: `sampled: ${said}` },
      stopReason: 'endTurn',
    };
  });
  client.setRequestHandler(ElicitRequestSchema, async (req) => ({
    action: 'accept',
    content: { name: 'Ada', age: 36, asked: req.params.message },
  }));
  client.setRequestHandler(ListRootsRequestSchema, async () => ({
    roots: [{ uri: 'file:///srv/conformance', name: 'conformance' }],
  }));
  const logs: LogParams[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params);
  });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    // Fast, bounded reconnects: the GET stream is resumed within the test's deadlines.
    reconnectionOptions: {
      initialReconnectionDelay: 20,
      maxReconnectionDelay: 200,
      reconnectionDelayGrowFactor: 2,
      maxRetries: 5,
    },
  });
  await client.connect(transport);
  const sessionId = transport.sessionId;
  if (!sessionId) throw new Error('no session');
  // The client opens its GET stream after notifications/initialized, asynchronously.
  await waitFor('standalone GET stream', async () => server.standaloneOpen(sessionId), STEP_MS);
  return {
    client,
    transport,
    sessionId,
    logs,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

function logsSince(c: Connection, from: number): LogParams[] {
  return c.logs.slice(from);
}

/** Waits until a logging message matching `pred` arrives after index `from`. */
async function logArrives(c: Connection, from: number, what: string, pred: (l: LogParams) => boolean): Promise<void> {
  await waitFor(what, async () => logsSince(c, from).some(pred), STEP_MS);
}

const dataOf = (l: LogParams) => l.data as Record<string, unknown>;

/** The same script, against any URL; returns everything the client observed. */
async function runScript(c: Connection, mode: Mode): Promise<Record<string, unknown>> {
  const { client } = c;
  const t: Record<string, unknown> = {};
  // In JSON response mode the SDK server has no request stream for
  // server-to-client messages: they only reach the client on the GET stream.
  const streams = mode === 'sse' ? (['request', 'standalone'] as const) : (['standalone'] as const);

  t.server = {
    version: client.getServerVersion(),
    capabilities: client.getServerCapabilities(),
    instructions: client.getInstructions(),
    protocolVersion: c.transport.protocolVersion,
  };
  t.ping = await settle(client.ping());
  t.setLevel = await settle(client.setLoggingLevel('info'));
  t.tools = await settle(client.listTools());

  const progress: Progress[] = [];
  t.progress = await settle(
    client.callTool({ name: 'progress', arguments: { steps: 3 } }, undefined, { onprogress: (p) => progress.push(p) }),
  );
  t.progressNotifications = progress;

  for (const s of streams) {
    const from = c.logs.length;
    t[`log/${s}`] = await settle(
      client.callTool({ name: 'log', arguments: { stream: s, levels: ['debug', 'info', 'warning', 'error'] } }),
    );
    // Standalone messages race the tools/call answer: wait for the sentinel
    // (a missing one is not thrown here but shows up in the comparison).
    await logArrives(c, from, `log sentinel on ${s}`, (l) => l.level === 'emergency').catch(() => {});
    t[`logs/${s}`] = logsSince(c, from);
    t[`sample/${s}`] = await settle(client.callTool({ name: 'sample', arguments: { stream: s, prompt: 'hello' } }));
    t[`elicit/${s}`] = await settle(client.callTool({ name: 'elicit', arguments: { stream: s } }));
    t[`roots/${s}`] = await settle(client.callTool({ name: 'roots', arguments: { stream: s } }));
  }

  if (mode === 'sse') {
    // The server closes the POST-response stream after progress 1; the client
    // resumes it with GET + Last-Event-ID and receives progress 2 and the result.
    const resumed: Progress[] = [];
    t.pauseStream = await settle(
      client.callTool({ name: 'pause_stream', arguments: {} }, undefined, { onprogress: (p) => resumed.push(p) }),
    );
    t.pauseStreamProgress = resumed;
  }

  // The server closes the GET stream; the client reconnects with Last-Event-ID
  // and receives the message stored while it was away, then a live one.
  const from = c.logs.length;
  const tagged = (tag: string) => (l: LogParams) => dataOf(l).tag === tag;
  t.notifyA = await settle(client.callTool({ name: 'notify', arguments: { tag: 'a' } }));
  await logArrives(c, from, 'standalone a', tagged('a')).catch(() => {});
  t.notifyB = await settle(client.callTool({ name: 'notify', arguments: { tag: 'b', drop: true } }));
  await logArrives(c, from, 'standalone b (replayed)', tagged('b')).catch(() => {});
  t.notifyC = await settle(client.callTool({ name: 'notify', arguments: { tag: 'c' } }));
  await logArrives(c, from, 'standalone c (live)', tagged('c')).catch(() => {});
  t.standaloneLogs = logsSince(c, from);

  t.resources = await settle(client.listResources());
  t.readStatic = await settle(client.readResource({ uri: 'conf://static/readme' }));
  t.readJson = await settle(client.readResource({ uri: 'conf://static/config.json' }));
  t.readTemplated = await settle(client.readResource({ uri: 'conf://items/alpine' }));
  t.templates = await settle(client.listResourceTemplates());
  t.prompts = await settle(client.listPrompts());
  t.prompt = await settle(client.getPrompt({ name: 'review', arguments: { language: 'rego', focus: 'safety' } }));
  t.completePrompt = await settle(
    client.complete({ ref: { type: 'ref/prompt', name: 'review' }, argument: { name: 'language', value: 'r' } }),
  );
  t.completeResource = await settle(
    client.complete({ ref: { type: 'ref/resource', uri: 'conf://items/{id}' }, argument: { name: 'id', value: 'al' } }),
  );
  // Errors must pass through unchanged as well.
  t.unknownTool = await settle(client.callTool({ name: 'no_such_tool', arguments: {} }));
  t.badArguments = await settle(client.callTool({ name: 'progress', arguments: { steps: 'many' } }));
  t.unknownResource = await settle(client.readResource({ uri: 'conf://nowhere' }));
  t.unknownPrompt = await settle(client.getPrompt({ name: 'no_such_prompt' }));
  t.pingAgain = await settle(client.ping());
  return t;
}

/** The upstream's record of a session: the method and headers of interest of each request. */
function requestsOf(server: ConformanceServer, sessionId: string) {
  return server.requests
    .filter((r) => r.sessionId === sessionId)
    .map((r) => ({
      method: r.method,
      headers: {
        ...r.headers,
        // Each run has its own session; that the header names the right one is the filter above.
        'mcp-session-id': r.headers['mcp-session-id'] === undefined ? undefined : 'SESSION',
      } as Record<string, string | undefined>,
    }));
}

// ---------- raw SSE helpers for the client-side drop of the GET stream ----------

interface SseEvent {
  id: string | undefined;
  data: string;
}

/** Reads SSE events from a fetch body, skipping comments and events without data (priming events). */
function sseEvents(body: ReadableStream<Uint8Array>) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  const queue: SseEvent[] = [];
  const parse = () => {
    let cut = buf.indexOf('\n\n');
    while (cut !== -1) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('id:')) id = line.slice(3).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.join('').length > 0) queue.push({ id, data: data.join('\n') });
      cut = buf.indexOf('\n\n');
    }
  };
  return {
    async next(what: string): Promise<SseEvent> {
      const deadline = Date.now() + STEP_MS;
      while (queue.length === 0) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no SSE event (${what}) within ${STEP_MS} ms`)),
            deadline - Date.now(),
          );
        });
        try {
          const { value, done } = await Promise.race([reader.read(), timeout]);
          if (done) throw new Error(`SSE stream ended before ${what}`);
          buf += value;
          parse();
        } finally {
          clearTimeout(timer);
        }
      }
      return queue.shift()!;
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

/**
 * Response headers minus those that legitimately differ per hop or per run:
 * connection management and framing (RFC 9110 §7.6.1; SARK answers a 202 with
 * content-length: 0 where the SDK server sends it chunked, and its listener's
 * keep-alive timeout is its own), the date, and the session id's value.
 */
function endToEnd(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date'].includes(k)) continue;
    out[k] = k === 'mcp-session-id' ? 'SESSION' : v;
  }
  return out;
}

/** The JSON-RPC messages of a POST answer, JSON or SSE. */
function messagesOf(res: Response, body: string): unknown[] {
  if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    return body
      .split('\n')
      .filter((l) => l.startsWith('data:') && l.length > 6)
      .map((l) => JSON.parse(l.slice(5)));
  }
  return body ? [JSON.parse(body)] : [];
}

/**
 * A raw session: the client drops its own GET connection, the server stores
 * what it sends meanwhile, and a GET with Last-Event-ID replays it.
 */
async function rawGetResumption(url: string, server: ConformanceServer) {
  const base = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
  let id = 0;
  const post = async (body: object, sessionId?: string) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        ...base,
        ...(sessionId ? { 'mcp-session-id': sessionId, 'mcp-protocol-version': PROTOCOL } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(STEP_MS),
    });
    const raw = await res.text();
    const hdrs: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      hdrs[k] = v;
    });
    return { res, raw, hdrs, messages: messagesOf(res, raw) };
  };
  const init = await post({
    jsonrpc: '2.0',
    id: ++id,
    method: 'initialize',
    params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
  const sessionId = init.res.headers.get('mcp-session-id');
  if (!sessionId) throw new Error(`no session id (status ${init.res.status})`);
  const initialized = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, sessionId);
  const notify = (tag: string) =>
    post({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: 'notify', arguments: { tag } } }, sessionId);
  const get = (lastEventId?: string) => {
    const abort = new AbortController();
    const res = fetch(url, {
      headers: {
        accept: 'text/event-stream',
        'mcp-session-id': sessionId,
        'mcp-protocol-version': PROTOCOL,
        ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
      },
      signal: abort.signal,
    });
    return { res, abort };
  };
  const messageOf = (e: SseEvent) => ({ id: e.id, message: JSON.parse(e.data) as unknown });

  const first = get();
  const firstRes = await first.res;
  const firstEvents = sseEvents(firstRes.body!);
  await waitFor('raw GET stream open', async () => server.standaloneOpen(sessionId), STEP_MS);
  const one = await notify('one');
  const e1 = await firstEvents.next('one');

  // The client goes away; the upstream must see its stream close.
  first.abort.abort();
  await firstEvents.cancel();
  await waitFor('upstream sees the GET stream dropped', async () => !server.standaloneOpen(sessionId), STEP_MS);
  const missed = [await notify('two'), await notify('three')];

  const second = get(e1.id);
  const secondRes = await second.res;
  const secondEvents = sseEvents(secondRes.body!);
  const replayed = [await secondEvents.next('two'), await secondEvents.next('three')];
  await waitFor('resumed GET stream open', async () => server.standaloneOpen(sessionId), STEP_MS);
  const four = await notify('four');
  const live = await secondEvents.next('four');
  second.abort.abort();
  await secondEvents.cancel();
  const gets = server.requests.filter((r) => r.sessionId === sessionId && r.method === 'GET');
  await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': PROTOCOL } })
    .then((r) => r.arrayBuffer())
    .catch(() => {});
  return {
    statuses: {
      initialize: init.res.status,
      initialized: initialized.res.status,
      firstGet: [firstRes.status, firstRes.headers.get('content-type')],
      secondGet: [secondRes.status, secondRes.headers.get('content-type')],
    },
    callResults: [one, ...missed, four].map((r) => r.messages),
    events: [messageOf(e1), ...replayed.map(messageOf), messageOf(live)],
    lastEventIdsUpstream: gets.map((g) => g.headers['last-event-id']),
    // The answers on the wire: status, end-to-end headers, and the exact body bytes.
    wire: [init, initialized, one, ...missed, four].map((r) => ({
      status: r.res.status,
      headers: endToEnd(r.hdrs),
      body: r.raw,
    })),
  };
}

describe('conformance: the SDK client sees no difference through SARK (allow-all policy)', () => {
  let opa: Service;
  let policyDir: string;

  beforeAll(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'sark-allow-all-'));
    writeFileSync(join(policyDir, 'allow_all.rego'), ALLOW_ALL);
    opa = await startOpa({ paths: [policyDir] });
  });

  afterAll(async () => {
    await opa?.stop();
    if (policyDir) rmSync(policyDir, { recursive: true, force: true });
  });

  for (const mode of ['json', 'sse'] as const) {
    describe(`${mode} responses`, () => {
      let server: ConformanceServer;
      let sidecar: Sidecar;
      let direct: { conn: Connection; transcript: Record<string, unknown> };
      let proxied: { conn: Connection; transcript: Record<string, unknown> };

      beforeAll(async () => {
        server = await startConformanceServer({ jsonResponse: mode === 'json' });
        sidecar = await startTestSidecar([
          '--opa-url',
          opa.url,
          '--upstream-url',
          server.url,
          '--opa-timeout-ms',
          '500',
        ]);
        // One after the other: the GET-stream reconnects are timing-sensitive on 2 cores.
        for (const [name, url] of [
          ['direct', server.url],
          ['proxied', sidecar.mcpUrl],
        ] as const) {
          const conn = await connect(url, server);
          const run = { conn, transcript: await runScript(conn, mode) };
          if (name === 'direct') direct = run;
          else proxied = run;
        }
      }, 90_000);

      afterAll(async () => {
        await direct?.conn.close();
        await proxied?.conn.close();
        await sidecar?.close();
        await server?.close();
      });

      it('the direct run exercised every feature (the comparison is not vacuous)', () => {
        const t = direct.transcript;
        expect(t.ping).toEqual({ ok: {} });
        expect((t.tools as { ok: { tools: { name: string }[] } }).ok.tools.map((x) => x.name)).toHaveLength(7);
        expect(JSON.stringify(t['sample/standalone'])).toContain('sampled: hello');
        expect(JSON.stringify(t['elicit/standalone'])).toContain('"action\\":\\"accept');
        expect(JSON.stringify(t['roots/standalone'])).toContain('file:///srv/conformance');
        expect((t['logs/standalone'] as LogParams[]).map((l) => l.level)).toEqual([
          'info',
          'warning',
          'error',
          'emergency',
        ]);
        expect((t.standaloneLogs as LogParams[]).map((l) => dataOf(l).tag)).toEqual(['a', 'b', 'c']);
        expect(t.completePrompt).toEqual({
          ok: { completion: { values: ['rego', 'rust'], total: 2, hasMore: false } },
        });
        expect('error' in (t.unknownResource as Settled)).toBe(true);
        if (mode === 'sse') {
          expect((t.progressNotifications as Progress[]).map((p) => p.progress)).toEqual([1, 2, 3]);
          expect((t['logs/request'] as LogParams[]).map((l) => l.level)).toEqual([
            'debug',
            'info',
            'warning',
            'error',
            'emergency',
          ]);
          expect(JSON.stringify(t['sample/request'])).toContain('sampled: hello');
          expect(t.pauseStream).toEqual({ ok: { content: [{ type: 'text', text: 'resumed' }] } });
          expect((t.pauseStreamProgress as Progress[]).map((p) => p.progress)).toEqual([1, 2]);
        }
      });

      it('every answer, notification and server request is the same through SARK', () => {
        // Field by field first, so a failure names the step.
        for (const key of Object.keys(direct.transcript)) {
          expect.soft(proxied.transcript[key], key).toEqual(direct.transcript[key]);
        }
        expect(Object.keys(proxied.transcript)).toEqual(Object.keys(direct.transcript));
      });

      it('the upstream receives the same JSON-RPC messages, in the same order, through SARK', () => {
        const viaSark = server.receivedIn(proxied.conn.sessionId);
        expect(viaSark.length).toBeGreaterThan(20);
        expect(viaSark).toEqual(server.receivedIn(direct.conn.sessionId));
        // The client's answers to sampling, elicitation and roots were POSTed back through SARK.
        const answers = viaSark.filter((m) => (m as { result?: unknown }).result !== undefined);
        expect(answers.length).toBe(mode === 'sse' ? 6 : 3);
      });

      it('the upstream receives the same headers of interest, except accept-encoding: identity', async () => {
        // The SDK client resumes a POST stream that ended with a JSON-RPC error
        // (it only counts results as completing a stream) after the server's
        // 20 ms retry, on both sessions: wait until both records have the same
        // length and stop growing, then compare them.
        let last = -1;
        await waitFor(
          'both sessions to settle',
          async () => {
            const a = requestsOf(server, direct.conn.sessionId).length;
            const b = requestsOf(server, proxied.conn.sessionId).length;
            const settled = a === b && a === last;
            last = a === b ? a : -1;
            return settled;
          },
          STEP_MS,
        ).catch(() => {});
        const straight = requestsOf(server, direct.conn.sessionId);
        const viaSark = requestsOf(server, proxied.conn.sessionId);
        // SARK asks the upstream for an uncompressed answer, on purpose (src/forward/upstream.ts).
        expect(new Set(viaSark.map((r) => r.headers['accept-encoding']))).toEqual(new Set(['identity']));
        const strip = (rs: typeof viaSark) =>
          rs.map((r) => ({ ...r, headers: { ...r.headers, 'accept-encoding': '*' } }));
        // Compared as multisets: a resumption GET (after the server's 20 ms
        // retry) and the client's next POST race in both sessions alike, so
        // their order is the machine's, not SARK's.
        const canon = (rs: typeof viaSark) =>
          strip(rs)
            .map((r) => JSON.stringify(r, (_k, v) => (v === undefined ? null : v)))
            .sort();
        expect(canon(viaSark)).toEqual(canon(straight));
        // Resumption reached the upstream: GETs carrying Last-Event-ID. JSON
        // mode: the standalone stream. SSE mode: also pause_stream's response
        // stream, and the two streams that ended with JSON-RPC errors.
        const resumes = viaSark.filter((r) => r.method === 'GET' && r.headers['last-event-id'] !== undefined);
        expect(resumes.length).toBe(mode === 'sse' ? 4 : 1);
      });

      it('a client that drops its GET stream resumes it with Last-Event-ID and gets the missed events', async () => {
        const straight = await rawGetResumption(server.url, server);
        const viaSark = await rawGetResumption(sidecar.mcpUrl, server);
        expect(
          straight.events.map((e) => (e.message as { params: { data: { tag: string } } }).params.data.tag),
        ).toEqual(['one', 'two', 'three', 'four']);
        expect(straight.lastEventIdsUpstream).toEqual([undefined, straight.events[0]!.id]);
        expect(viaSark).toEqual(straight);
      });

      it('SARK decided every request and refused none', async () => {
        const text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
        const counted = (outcome: string) =>
          [...text.matchAll(new RegExp(`^sark_requests_total\\{[^}]*outcome="${outcome}"[^}]*\\} (\\d+)`, 'gm'))]
            .map((m) => Number(m[1]))
            .reduce((a, b) => a + b, 0);
        expect(counted('allow')).toBeGreaterThan(40);
        expect(counted('deny')).toBe(0);
        expect(counted('error')).toBe(0);
      });
    });
  }
});
