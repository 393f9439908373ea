import { describe, expect, it } from 'vitest';
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
