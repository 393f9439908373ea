import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readBody } from '../../../src/listen/body.ts';
import { checkIntervalMs, serverTimeouts } from '../../../src/listen/connections.ts';

const limits = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, bodyIdleTimeoutMs: 10_000, maxConnections: 0 };

describe('connection limits', () => {
  it('derive Node timeouts, checked often enough to cut on time', () => {
    expect(serverTimeouts(limits)).toEqual({
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      connectionsCheckingInterval: 1_000,
    });
    expect(checkIntervalMs({ ...limits, headersTimeoutMs: 2_000, bodyIdleTimeoutMs: 0 })).toBe(200);
    expect(checkIntervalMs({ ...limits, headersTimeoutMs: 100, requestTimeoutMs: 100 })).toBe(25);
    expect(checkIntervalMs({ ...limits, headersTimeoutMs: 0, requestTimeoutMs: 0, bodyIdleTimeoutMs: 0 })).toBe(30_000);
  });

  it('refuse a headers deadline past the request deadline at start-up, naming both fields', () => {
    expect(() => serverTimeouts({ ...limits, headersTimeoutMs: 40_000 })).toThrow(
      /headersTimeoutMs \(40000\) must not exceed requestTimeoutMs \(30000\)/,
    );
    expect(() => serverTimeouts({ ...limits, headersTimeoutMs: 40_000, requestTimeoutMs: 0 })).not.toThrow();
  });
});

describe('readBody when the client goes away', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('rejects with a catalogue error, never an unexplained one', async () => {
    const outcome = new Promise<unknown>((resolve) => {
      server = createServer((req) => readBody(req, 1024).then(resolve, resolve));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { port } = server!.address() as { port: number };
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"jsonrpc"');
      setTimeout(() => socket.destroy(), 50);
    });
    expect(await outcome).toMatchObject({ code: 'SARK_INVALID_REQUEST' });
  });
});
