/**
 * Micro-benchmark for the cache-miss path (issue 19: "OPA's own settings"):
 * what one decision costs OPA under different Go runtime settings. One OPA
 * per setting, each with the load-test policy and data, asked the tools/call
 * input SARK sends for the workload's call (loadtest/fixtures/opa-input.json)
 * over an undici keep-alive pool, as SARK asks it. The settings take turns
 * over rounds (the order reversed every other round), so drift on the shared
 * cores falls on all of them alike; only the OPA being measured is loaded.
 *
 * Settings: Go's defaults; GOGC=200 and 400 (a collection after the heap
 * grows 2 or 4 times what the last one left, not 1 time); GOGC=off with
 * GOMEMLIMIT=128MiB (collect only near a memory ceiling); GOMAXPROCS=1.
 *
 *   npx node loadtest/micro/opa-settings.ts [--rounds 3] [--seconds 5] [--concurrency 16] [--write]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { type Service, startOpa } from '../../test/support/services.ts';
import { loadtestPolicyPaths, ROOT } from '../lib.ts';
import { cpuSecondsOf, pidsWithArgs, rssMiBOf } from '../proc.ts';
import { alternate, medians, roundsArgs } from './rounds.ts';

const { rounds, seconds, concurrency, write } = roundsArgs();

const SETTINGS: Record<string, Record<string, string>> = {
  default: {},
  'GOGC=200': { GOGC: '200' },
  'GOGC=400': { GOGC: '400' },
  'GOGC=off,GOMEMLIMIT=128MiB': { GOGC: 'off', GOMEMLIMIT: '128MiB' },
  'GOMAXPROCS=1': { GOMAXPROCS: '1' },
};

const body = JSON.stringify({
  input: JSON.parse(readFileSync(join(ROOT, 'loadtest/fixtures/opa-input.json'), 'utf8')),
});
const path = '/v1/data/sark/gateway/decision';
const headers = { 'content-type': 'application/json', accept: 'application/json' };

interface Target {
  readonly name: string;
  readonly opa: Service;
  readonly pids: number[];
  readonly pool: Pool;
}

const targets: Target[] = [];
let samples: Record<string, { decisionsPerS: number; opaCpuMsPerDecision: number; rssMiB: number }[]> = {};
try {
  for (const [name, env] of Object.entries(SETTINGS)) {
    const opa = await startOpa({ paths: loadtestPolicyPaths(), env });
    targets.push({
      name,
      opa,
      pids: pidsWithArgs(['--addr', `127.0.0.1:${opa.port}`]),
      pool: new Pool(opa.url, { connections: concurrency, keepAliveTimeout: 30_000 }),
    });
  }

  async function one(t: Target): Promise<void> {
    const res = await t.pool.request({ path, method: 'POST', headers, body });
    const text = await res.body.text();
    if (res.statusCode !== 200 || !text.includes('"allow":true'))
      throw new Error(`${t.name}: ${res.statusCode} ${text}`);
  }

  async function window(t: Target, s: number): Promise<{ decisions: number; opaMs: number }> {
    const until = performance.now() + s * 1000;
    let decisions = 0;
    const cpu0 = cpuSecondsOf(t.pids);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          await one(t);
          decisions++;
        }
      }),
    );
    return { decisions, opaMs: ((cpuSecondsOf(t.pids) - cpu0) * 1000) / decisions };
  }

  for (const t of targets) await window(t, 1); // warm-up: connections, the Go heap
  samples = await alternate(targets, rounds, async (t) => {
    const w = await window(t, seconds);
    return {
      decisionsPerS: Math.round(w.decisions / seconds),
      opaCpuMsPerDecision: Math.round(w.opaMs * 1000) / 1000,
      rssMiB: Math.round(rssMiBOf(t.pids) * 10) / 10,
    };
  });
} finally {
  for (const t of targets) {
    await t.pool.close();
    await t.opa.stop();
  }
}

const result = {
  command: `npx node loadtest/micro/opa-settings.ts --rounds ${rounds} --seconds ${seconds} --concurrency ${concurrency}`,
  at: new Date().toISOString(),
  medians: medians(samples),
  samples,
};
process.stdout.write(`${JSON.stringify(result.medians, null, 2)}\n`);
if (write)
  writeFileSync(join(ROOT, 'loadtest/results/micro-opa-settings.json'), `${JSON.stringify(result, null, 2)}\n`);
