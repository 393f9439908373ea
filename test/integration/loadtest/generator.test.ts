/**
 * The SDK workload's processes, for real: the open-loop generator against a
 * server that stalls (latency counts from the scheduled send, so a stall shows
 * in every request queued behind it), and the MCP handshakes against the SDK
 * v1 and v2 upstreams, directly and through the bare pass-through.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Generator } from '../../../loadtest/generator-client.ts';
import { API_KEY, type Party, startMcpUpstream, startPassthrough } from '../../../loadtest/parties.ts';
import type { GeneratorSpec } from '../../../loadtest/workload-protocol.ts';

const spec = (url: string, workload: GeneratorSpec['workload'], extra: Partial<GeneratorSpec> = {}): GeneratorSpec => ({
  url,
  workload,
  headers: { 'x-api-key': API_KEY },
  expect: '"result"',
  connections: 4,
  timeoutMs: 5000,
  ...extra,
});

describe('open loop: no coordinated omission', () => {
  let server: Server;
  let url: string;
  let stalled = false;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const answer = () =>
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":{"allow":true}}');
        if (stalled) return answer();
        stalled = true;
        setTimeout(answer, 300); // the first request stalls the only connection for 300 ms
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/data/x`;
  });

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('charges the stall to every request scheduled behind it', async () => {
    const gen = await Generator.start(
      spec(url, 'opa', { headers: {}, opaInput: {}, expect: '"allow":true', connections: 1 }),
      60,
    );
    try {
      const r = await gen.run({ rate: 100, warmupS: 0, durationS: 1, watch: { generator: [gen.pid] } });
      expect(r.ok).toBe(100);
      expect(r.errors).toBe(0);
      // ~30 requests were due during the stall: a closed-loop client would have measured one slow request.
      expect(r.latencyMs.max).toBeGreaterThanOrEqual(290);
      expect(r.latencyMs.p90).toBeGreaterThanOrEqual(50);
      expect(r.cpu?.cpuMsPerCall.generator).toBeGreaterThanOrEqual(0);
      expect(r.rssMiB.generator?.max).toBeGreaterThan(10);
    } finally {
      await gen.stop();
    }
  });
});

describe.each(['v1', 'v2'] as const)('SDK %s upstream', (sdk) => {
  let upstream: Party;
  let passthrough: Party;

  beforeAll(async () => {
    upstream = await startMcpUpstream(sdk, 120);
    passthrough = await startPassthrough(upstream.url, 120);
  });

  afterAll(async () => {
    await passthrough?.stop();
    await upstream?.stop();
  });

  it.each(['direct', 'pass-through'])('handshakes, then every tools/call is answered (%s)', async (via) => {
    const url = via === 'direct' ? upstream.url : passthrough.url;
    const gen = await Generator.start(spec(url, sdk === 'v1' ? 'mcp-v1' : 'mcp-v2'), 60);
    try {
      const watch = { upstream: upstream.pids, proxy: passthrough.pids };
      const r = await gen.run({ rate: 50, warmupS: 0.2, durationS: 1, watch });
      expect(r.errorKinds).toEqual({});
      expect(r.ok).toBe(50);
      expect(r.cpu?.cpuMsPerCall.upstream).toBeGreaterThan(0);
      expect(r.messagesSent).toBe((sdk === 'v1' ? 2 : 1) + 60);
    } finally {
      await gen.stop();
    }
  });

  it('the pass-through refuses a caller its cached decisions do not know', async () => {
    const workload = sdk === 'v1' ? 'mcp-v1' : 'mcp-v2';
    await expect(
      Generator.start(spec(passthrough.url, workload, { headers: { 'x-api-key': 'nope' } }), 60),
    ).rejects.toThrow(/HTTP 403/);
  });
});
