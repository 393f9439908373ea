/**
 * Micro-benchmark for the cache-miss path (issue 19): what one policy
 * decision costs OPA and SARK's side of the exchange, by transport and by
 * input. One OPA server (`--h2c`, so it speaks both HTTP/1.1 and cleartext
 * HTTP/2), the load-test policy and data, the tools/call input SARK sends for
 * the workload's call (loadtest/fixtures/opa-input.json, captured by
 * loadtest/opa-input.ts). Variants, alternated over rounds so drift on the
 * shared cores falls on all of them alike:
 *
 * - h1: an undici Pool of keep-alive HTTP/1.1 connections (what SARK does);
 * - h2c: one undici Client speaking HTTP/2 with prior knowledge;
 * - h1-lean: HTTP/1.1 with the input's null and empty fields left out.
 *
 * Each window keeps `--concurrency` decisions in flight for `--seconds`;
 * CPU per decision of OPA (its /proc entry) and of this process.
 *
 *   npx node loadtest/micro/opa-transport.ts [--rounds 3] [--seconds 5] [--concurrency 16] [--write]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Pool } from 'undici';
import { startOpa } from '../../test/support/services.ts';
import { loadtestPolicyPaths, ROOT } from '../lib.ts';
import { cpuSecondsOf, pidsWithArgs } from '../proc.ts';
import { alternate, medians, roundsArgs } from './rounds.ts';

const { rounds, seconds, concurrency, write } = roundsArgs();

const input = JSON.parse(readFileSync(join(ROOT, 'loadtest/fixtures/opa-input.json'), 'utf8')) as Record<
  string,
  unknown
>;

/** The input without null, empty-array and empty-object fields (what a leaner encoding would send). */
function lean(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(lean);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null || (Array.isArray(x) && x.length === 0)) continue;
    const y = lean(x);
    if (y !== null && typeof y === 'object' && !Array.isArray(y) && Object.keys(y).length === 0) continue;
    out[k] = y;
  }
  return out;
}

const opa = await startOpa({ paths: loadtestPolicyPaths(), args: ['--h2c'] });
const opaPids = pidsWithArgs(['--addr', `127.0.0.1:${opa.port}`]);
const path = '/v1/data/sark/gateway/decision';
const headers = { 'content-type': 'application/json', accept: 'application/json' };

interface Variant {
  readonly name: string;
  readonly body: string;
  readonly dispatcher: Pool | Client;
}
const full = JSON.stringify({ input });
const variants: Variant[] = [
  { name: 'h1', body: full, dispatcher: new Pool(opa.url, { connections: concurrency, keepAliveTimeout: 30_000 }) },
  {
    name: 'h2c',
    body: full,
    dispatcher: new Client(opa.url, { allowH2: true, h2Options: { useH2c: true } }),
  },
  {
    name: 'h1-lean',
    body: JSON.stringify({ input: lean(input) }),
    dispatcher: new Pool(opa.url, { connections: concurrency, keepAliveTimeout: 30_000 }),
  },
];

async function one(v: Variant): Promise<void> {
  const res = await v.dispatcher.request({ path, method: 'POST', headers, body: v.body });
  const text = await res.body.text();
  if (res.statusCode !== 200 || !text.includes('"allow":true')) throw new Error(`${v.name}: ${res.statusCode} ${text}`);
}

async function window(v: Variant, s: number): Promise<{ decisions: number; opaMs: number; clientMs: number }> {
  const until = performance.now() + s * 1000;
  let decisions = 0;
  const opa0 = cpuSecondsOf(opaPids);
  const me0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await one(v);
        decisions++;
      }
    }),
  );
  const me = process.cpuUsage(me0);
  return {
    decisions,
    opaMs: ((cpuSecondsOf(opaPids) - opa0) * 1000) / decisions,
    clientMs: (me.user + me.system) / 1000 / decisions,
  };
}

let samples: Record<string, { decisionsPerS: number; opaCpuMsPerDecision: number; clientCpuMsPerDecision: number }[]>;
try {
  for (const v of variants) await window(v, 1); // warm-up: connections, JIT
  samples = await alternate(variants, rounds, async (v) => {
    const w = await window(v, seconds);
    return {
      decisionsPerS: Math.round(w.decisions / seconds),
      opaCpuMsPerDecision: Math.round(w.opaMs * 1000) / 1000,
      clientCpuMsPerDecision: Math.round(w.clientMs * 1000) / 1000,
    };
  });
} finally {
  for (const v of variants) await v.dispatcher.close();
  await opa.stop();
}

const result = {
  command: `npx node loadtest/micro/opa-transport.ts --rounds ${rounds} --seconds ${seconds} --concurrency ${concurrency}`,
  at: new Date().toISOString(),
  inputBytes: { full: Buffer.byteLength(full), lean: Buffer.byteLength(variants[2]!.body) },
  medians: medians(samples),
  samples,
};
process.stdout.write(`${JSON.stringify(result.medians, null, 2)}\n`);
if (write)
  writeFileSync(join(ROOT, 'loadtest/results/micro-opa-transport.json'), `${JSON.stringify(result, null, 2)}\n`);
