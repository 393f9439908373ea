/**
 * Decision cache on and off, through SARK with a real OPA (and Redis for the
 * shared level), writes loadtest/results/cache.json:
 *
 *   npx node loadtest/cache.ts [--duration 8] [--connections 64] [--rate 5000] [--out loadtest/results/cache.json]
 *
 * Same request as loadtest/run.ts (tools/call echo, anonymous). OPA serves the
 * repo policy (opa/policies + opa/data) through a thin wrapper that drops the
 * `rate_limit` obligation, so the run measures the decision path rather than
 * the anonymous budget of 60 calls a minute; the policy's own `cache`
 * directive (ttl 30 s, scope "arguments") is kept. Per scenario: a 2 s
 * warm-up, a closed loop (throughput) and an open loop at --rate (latency),
 * and the l1 hit ratio over the measured runs, read from /metrics.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startOpa, startRedis } from '../test/support/services.ts';
import { type RunResult, run, spawnNode } from './lib.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '64' },
    rate: { type: 'string', default: '5000' },
    out: { type: 'string', default: join(ROOT, 'loadtest/results/cache.json') },
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

const WRAPPER = `package sark.loadtest

import rego.v1

import data.sark.gateway

decision := object.union(gateway.decision, {"rate_limit": null})
`;

function policyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sark-loadtest-policy-'));
  const walk = (from: string, to: string) => {
    for (const e of readdirSync(from, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(from, e.name), join(to, e.name));
      else if (e.name.endsWith('.rego') && !e.name.endsWith('_test.rego')) cpSync(join(from, e.name), join(to, e.name));
    }
  };
  walk(join(ROOT, 'opa/policies'), join(dir, 'policies'));
  cpSync(join(ROOT, 'opa/data/data.json'), join(dir, 'data.json'));
  writeFileSync(join(dir, 'loadtest.rego'), WRAPPER);
  return dir;
}

async function cacheCounts(adminUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^sark_decision_cache_lookups_total\{level="(\w+)",result="(\w+)"\} (\S+)$/gm)) {
    out[`${m[1]}_${m[2]}`] = Number(m[3]);
  }
  return out;
}

function hitRatio(before: Record<string, number>, after: Record<string, number>): number | null {
  const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  const total = d('l1_hit') + d('l1_miss') + d('l1_coalesced');
  return total === 0 ? null : Math.round((d('l1_hit') / total) * 10_000) / 10_000;
}

interface Scenario {
  max: RunResult;
  atRate: RunResult;
  l1HitRatio: number | null;
  lookups: Record<string, number>;
}

async function main() {
  const dir = policyDir();
  const [opa, redis] = await Promise.all([startOpa({ paths: [dir] }), startRedis()]);
  const upstream = await spawnNode(join(ROOT, 'loadtest/upstream.ts'), [], /^(http\S+)$/m);
  const scenarios: Record<string, Scenario> = {};
  try {
    for (const [name, extra] of [
      ['cache_off', ['--decision-cache-entries', '0']],
      ['cache_on', ['--redis-url', redis.url]],
    ] as const) {
      const adminPort = await freePort();
      const adminUrl = `http://127.0.0.1:${adminPort}`;
      const sark = await spawnNode(
        join(ROOT, 'src/cli/main.ts'),
        [
          'serve',
          '--listen',
          '127.0.0.1:0',
          '--admin-listen',
          `127.0.0.1:${adminPort}`,
          '--upstream-url',
          upstream.url,
          '--opa-url',
          opa.url,
          '--opa-decision-path',
          'sark/loadtest/decision',
          '--log-level',
          'warn',
          ...extra,
        ],
        /MCP endpoint \(Streamable HTTP\): (\S+)/,
      );
      try {
        const probe = await fetch(sark.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...HEADERS },
          body: BODY,
        });
        const probeBody = (await probe.json()) as { result?: unknown };
        if (probe.status !== 200 || !probeBody.result)
          throw new Error(`probe not allowed: ${JSON.stringify(probeBody)}`);
        await run({ url: sark.url, body: BODY, headers: HEADERS, connections, durationS: 2 });
        const before = await cacheCounts(adminUrl);
        process.stdout.write(`${name}: closed loop ${durationS}s… `);
        const max = await run({ url: sark.url, body: BODY, headers: HEADERS, connections, durationS });
        process.stdout.write(`${max.reqPerSec} req/s; open loop at ${rate} req/s… `);
        const atRate = await run({ url: sark.url, body: BODY, headers: HEADERS, connections, durationS, rate });
        const after = await cacheCounts(adminUrl);
        scenarios[name] = { max, atRate, l1HitRatio: hitRatio(before, after), lookups: after };
        process.stdout.write(`p95 ${atRate.latencyMs.p95} ms, hit ratio ${scenarios[name]!.l1HitRatio}\n`);
      } finally {
        await sark.stop();
      }
    }
    const on = scenarios.cache_on!;
    const result = {
      command: `npx node loadtest/cache.ts --duration ${durationS} --connections ${connections} --rate ${rate}`,
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
      },
      setup:
        'OPA 1.22 server (repo policy with rate_limit dropped), Redis 7, lean JSON upstream, SARK and autocannon on loopback',
      request: 'tools/call echo, anonymous agent, constant arguments (argument-scoped cache key)',
      scenarios,
      target: { reqPerSec: rate, warmP95Ms: 5 },
      pass: on.atRate.latencyMs.p95 < 5 && on.atRate.non2xx === 0 && on.atRate.errors === 0,
    };
    mkdirSync(dirname(values.out!), { recursive: true });
    writeFileSync(values.out!, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`written to ${values.out}\n`);
  } finally {
    await upstream.stop();
    await Promise.all([opa.stop(), redis.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
