/**
 * Slow and excess clients against a real sidecar (embedded policy, bundled
 * demo server): hundreds of connections that send their headers and then one
 * body byte every 2 s, bodies that stall, headers that never end — each cut
 * at its deadline with a 408 — while a normal client is served throughout and
 * an SSE stream outlives every deadline. Then the connection cap: the
 * connection past it is answered 503 and closed, and service resumes once
 * connections close. loadtest/slow-clients.ts runs the 4,000-connection version.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../../src/sidecar.ts';
import { until } from '../../support/audit-events.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';

const CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 7,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'still served' } },
});
const HEADERS = { 'mcp-protocol-version': '2025-11-25' };

interface SlowClient {
  readonly socket: Socket;
  readonly openedAt: number;
  closedAt: number | undefined;
  answer: string;
}

/** A raw connection that writes `head` at once and then `drip` every `everyMs` (0: never). */
function slowClient(url: string, head: string, drip = '', everyMs = 0): Promise<SlowClient> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const client: SlowClient = { socket, openedAt: 0, closedAt: undefined, answer: '' };
    let timer: NodeJS.Timeout | undefined;
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      client.answer += d.toString('latin1');
    });
    socket.once('close', () => {
      client.closedAt = performance.now();
      clearInterval(timer);
    });
    socket.once('connect', () => {
      (client as { openedAt: number }).openedAt = performance.now();
      socket.write(head);
      if (everyMs > 0) timer = setInterval(() => socket.writable && socket.write(drip), everyMs);
      resolve(client);
    });
    socket.once('error', reject);
  });
}

function metric(sidecar: Sidecar, name: string, labels: Record<string, string>): Promise<number> {
  return sidecar.metrics.registry
    .getSingleMetric(name)!
    .get()
    .then((m) => {
      const found = m.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
      return found?.value ?? 0;
    });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

let sidecar: Sidecar | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await sidecar?.close();
  sidecar = undefined;
});

describe('slow clients', () => {
  it('cuts each at its deadline with a 408 while a normal client and an SSE stream are served', async () => {
    const HEADERS_MS = 2_000;
    const REQUEST_MS = 5_000;
    const IDLE_MS = 3_000;
    sidecar = await startTestSidecar([
      '--headers-timeout-ms',
      String(HEADERS_MS),
      '--request-timeout-ms',
      String(REQUEST_MS),
      '--request-body-idle-timeout-ms',
      String(IDLE_MS),
    ]);
    const url = sidecar.mcpUrl;
    const { pathname, host } = new URL(url);

    // A session and its GET stream: it must outlive every deadline.
    const init = await rawPost(
      url,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    );
    expect(init.status).toBe(200);
    const sessionId = init.headers.get('mcp-session-id')!;
    const stream = await fetch(url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId, ...HEADERS },
    });
    expect(stream.status).toBe(200);
    const streamReader = stream.body!.getReader();
    let streamEnded = false;
    void (async () => {
      while (!(await streamReader.read().catch(() => ({ done: true }))).done);
      streamEnded = true;
    })();

    const rssBefore = process.memoryUsage().rss;
    const head = `POST ${pathname} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-11-25\r\ncontent-length: 4096\r\n\r\n`;
    const open = (n: number, make: () => Promise<SlowClient>) => Promise.all(Array.from({ length: n }, make));
    // One body byte every 2 s: never idle for 3 s, so cut by the whole-request deadline.
    const trickling = await open(300, () => slowClient(url, head, ' ', 2_000));
    // One body byte, then nothing: cut by the body idle deadline.
    const stalled = await open(50, () => slowClient(url, `${head}{`));
    // Headers that never end: cut by the headers deadline.
    const unfinished = await open(50, () => slowClient(url, `POST ${pathname} HTTP/1.1\r\nhost: ${host}\r\n`));
    const admin = await slowClient(sidecar.adminUrl, 'GET /metrics HTTP/1.1\r\n');
    const all = [...trickling, ...stalled, ...unfinished, admin];
    sockets.push(...all.map((c) => c.socket));
    let held = 0;
    await until('every slow client accepted', async () => {
      held = await metric(sidecar!, 'sark_listener_connections', { listener: 'data' });
      return held >= 400;
    });
    const rssHeld = process.memoryUsage().rss;

    // The normal client, every 200 ms until every slow client is gone (the
    // anonymous agent may make 60 calls a minute).
    let served = 0;
    const failures: string[] = [];
    let running = true;
    const normal = (async () => {
      while (running) {
        const r = await rawPost(url, CALL, HEADERS);
        if (r.status === 200 && r.text.includes('still served')) served++;
        else failures.push(`${r.status} ${r.text.slice(0, 120)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await until('every slow client cut off', () => all.every((c) => c.closedAt !== undefined), REQUEST_MS + 5_000);
    running = false;
    await normal;

    const slack = 1_200; // the check interval (200 ms here) plus a loaded 2-core machine
    const cutAfter = (c: SlowClient) => c.closedAt! - c.openedAt;
    for (const [group, deadline] of [
      [trickling, REQUEST_MS],
      [stalled, IDLE_MS],
      [unfinished, HEADERS_MS],
      [[admin], HEADERS_MS],
    ] as const) {
      for (const c of group) {
        expect(cutAfter(c)).toBeGreaterThanOrEqual(deadline - 50);
        expect(cutAfter(c)).toBeLessThan(deadline + slack);
        expect(c.answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
        expect(c.answer).toContain('x-sark-error: SARK_REQUEST_TIMEOUT');
      }
    }
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(10);
    expect(streamEnded).toBe(false);
    expect(await metric(sidecar, 'sark_listener_request_timeouts_total', { listener: 'data', phase: 'request' })).toBe(
      300,
    );
    expect(
      await metric(sidecar, 'sark_listener_request_timeouts_total', { listener: 'data', phase: 'body_idle' }),
    ).toBe(50);
    expect(await metric(sidecar, 'sark_listener_request_timeouts_total', { listener: 'data', phase: 'headers' })).toBe(
      50,
    );
    expect(await metric(sidecar, 'sark_listener_request_timeouts_total', { listener: 'admin', phase: 'headers' })).toBe(
      1,
    );
    // The session's POST and GET connections, and the normal client's keep-alive one, remain.
    await until(
      'connections released',
      async () => (await metric(sidecar!, 'sark_listener_connections', { listener: 'data' })) <= 3,
    );

    const closeMs = trickling.map(cutAfter).sort((a, b) => a - b);
    console.log(
      `slow clients: ${held} connections held; the 300 trickling cut after ${Math.round(closeMs[0]!)}..${Math.round(closeMs.at(-1)!)} ms (p50 ${Math.round(percentile(closeMs, 50))}) for a ${REQUEST_MS} ms deadline; RSS ${mib(rssBefore)} → ${mib(rssHeld)} MiB held; ${served} normal calls served, 0 failed`,
    );
    await streamReader.cancel();
  }, 30_000);

  it('answers the connection past the cap with 503 and serves again once connections close', async () => {
    sidecar = await startTestSidecar(['--max-connections', '20']);
    const url = sidecar.mcpUrl;
    const idle = await Promise.all(Array.from({ length: 20 }, () => slowClient(url, '')));
    sockets.push(...idle.map((c) => c.socket));
    await until(
      '20 held',
      async () => (await metric(sidecar!, 'sark_listener_connections', { listener: 'data' })) === 20,
    );

    const refused = await rawPost(url, CALL, HEADERS);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-sark-error')).toBe('SARK_TOO_MANY_CONNECTIONS');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32016 } });
    const extra = await slowClient(url, '');
    sockets.push(extra.socket);
    await until('the refused connection closed', () => extra.closedAt !== undefined, 5_000);
    expect(extra.answer).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(
      await metric(sidecar, 'sark_listener_connections_refused_total', { listener: 'data', reason: 'max_connections' }),
    ).toBe(2);

    for (const c of idle.slice(0, 5)) c.socket.destroy();
    await until(
      '15 held',
      async () => (await metric(sidecar!, 'sark_listener_connections', { listener: 'data' })) === 15,
    );
    const served = await rawPost(url, CALL, HEADERS);
    expect(served.status).toBe(200);
    expect(served.text).toContain('still served');
  });
});

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}
