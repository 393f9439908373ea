/**
 * The bundled demo: loaded only when SARK runs without an upstream, refused
 * with a configuration error where it is not installed (the production
 * image), and bounded in what it remembers.
 */
import { describe, expect, it } from 'vitest';
import { startBundledDemo } from '../../../src/bundled-demo.ts';
import { type DemoServer, remember, startDemoServer } from '../../../src/demo/server.ts';

describe('bundled demo', () => {
  it('starts from a source checkout', async () => {
    const demo = await startBundledDemo();
    try {
      expect(demo.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    } finally {
      await demo.close();
    }
  });

  it('where it is not installed, a missing upstreamUrl is a configuration error naming it', async () => {
    await expect(
      startBundledDemo(undefined, new URL('./not-installed/server.js', import.meta.url)),
    ).rejects.toMatchObject({
      code: 'SARK_CONFIG_INVALID',
      message: expect.stringMatching(/upstreamUrl is not set, and this installation has no bundled demo server/),
    });
  });

  it('remembers the latest messages and tool runs only', async () => {
    let demo: DemoServer | undefined;
    try {
      demo = await startDemoServer({ jsonResponse: true, maxRecorded: 10 });
      for (let i = 0; i < 30; i++) {
        const res = await fetch(demo.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: i,
            method: 'tools/call',
            params: { name: 'echo', arguments: { text: String(i) } },
          }),
        });
        expect(res.status).toBe(200);
        await res.text();
      }
      expect(demo.received.length).toBeLessThanOrEqual(10);
      expect(demo.executed.length).toBeLessThanOrEqual(10);
      expect(demo.received.at(-1)).toMatchObject({ id: 29 });
    } finally {
      await demo?.close();
    }
  });

  it('remember keeps order and trims the oldest half at once', () => {
    const list: number[] = [];
    for (let i = 0; i < 25; i++) remember(list, i, 10);
    expect(list.length).toBeLessThanOrEqual(10);
    expect(list).toEqual(Array.from({ length: list.length }, (_, k) => 25 - list.length + k));
  });
});
