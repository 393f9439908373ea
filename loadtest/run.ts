/**
 * `npm run loadtest`: drives `tools/call` through SARK (real OPA deciding
 * every call) and directly against the same upstream, in the same run, and
 * writes loadtest/results/latest.json.
 *
 *   npm run loadtest -- [--duration 10] [--connections 64] [--rate 5000] [--out loadtest/results/latest.json]
 *
 * Each party runs in its own process (OPA, upstream, SARK, and autocannon in
 * this one), all on loopback. Two kinds of run per target: closed loop (as
 * fast as it goes: throughput) and open loop at a fixed rate (latency at the
 * target load, with coordinated-omission correction).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { startOpa } from '../test/support/services.ts';
import { type RunResult, run, spawnNode } from './lib.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    rate: { type: 'string', default: '5000' },
    out: { type: 'string', default: join(ROOT, 'loadtest/results/latest.json') },
  },
});
const durationS = Number(values.duration);
const connections = Number(values.connections);
const rate = Number(values.rate);

const BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'load test' } },
});
const HEADERS = { 'mcp-protocol-version': '2025-11-25' };

async function main() {
  const opa = await startOpa();
  const upstream = await spawnNode(join(ROOT, 'loadtest/upstream.ts'), [], /^(http\S+)$/m);
  const sark = await spawnNode(
    join(ROOT, 'src/cli/main.ts'),
    [
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--admin-listen',
      '127.0.0.1:0',
      '--upstream-url',
      upstream.url,
      '--opa-url',
      opa.url,
      '--log-level',
      'warn',
    ],
    /MCP endpoint \(Streamable HTTP\): (\S+)/,
  );
  try {
    // The call must be allowed end to end, or we would be measuring denies.
    const probe = await fetch(sark.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...HEADERS },
      body: BODY,
    });
    const probeBody = (await probe.json()) as { result?: unknown; error?: unknown };
    if (probe.status !== 200 || !probeBody.result)
      throw new Error(`probe call not allowed: ${JSON.stringify(probeBody)}`);

    const scenarios: Record<string, RunResult> = {};
    const targets = { direct: upstream.url, sark: sark.url };
    for (const [name, url] of Object.entries(targets)) {
      await run({ url, body: BODY, headers: HEADERS, connections, durationS: 2 }); // warm-up (JIT, pools)
      process.stdout.write(`${name}: closed loop ${durationS}s, ${connections} connections… `);
      scenarios[`${name}_max`] = await run({ url, body: BODY, headers: HEADERS, connections, durationS });
      process.stdout.write(`${scenarios[`${name}_max`]!.reqPerSec} req/s\n`);
      process.stdout.write(`${name}: open loop at ${rate} req/s… `);
      scenarios[`${name}_at_rate`] = await run({ url, body: BODY, headers: HEADERS, connections, durationS, rate });
      process.stdout.write(`p95 ${scenarios[`${name}_at_rate`]!.latencyMs.p95} ms\n`);
    }
    const s = scenarios.sark_max!;
    const atRate = scenarios.sark_at_rate!;
    const result = {
      command: `npm run loadtest -- --duration ${durationS} --connections ${connections} --rate ${rate}`,
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
      },
      setup:
        'OPA 1.22 server (real policy, opa/policies + opa/data), lean JSON upstream, SARK and autocannon: four processes on loopback',
      request: 'tools/call echo, anonymous agent, allowed by policy (one OPA query per call, no decision cache)',
      scenarios,
      target: { reqPerSec: rate, p95Ms: 50 },
      pass: s.reqPerSec >= rate && atRate.latencyMs.p95 < 50 && atRate.non2xx === 0 && atRate.errors === 0,
      overheadP50Ms: Math.round((atRate.latencyMs.p50 - scenarios.direct_at_rate!.latencyMs.p50) * 100) / 100,
    };
    mkdirSync(dirname(values.out!), { recursive: true });
    writeFileSync(values.out!, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\n${JSON.stringify(result, null, 2)}\nwritten to ${values.out}\n`);
  } finally {
    await sark.stop();
    await upstream.stop();
    await opa.stop();
  }
}

await main();
