/**
 * What auditing to ClickHouse costs a request: SARK with audit off and with
 * audit to ClickHouse, alternated (ABBA) over several rounds at a fixed rate,
 * everything else identical: the same OPA, upstream and ClickHouse processes
 * run through the whole benchmark, so ClickHouse's idle cost is in both arms
 * and only the audit traffic differs.
 *
 *   npm run loadtest:audit -- [--rounds 4] [--duration 10] [--rate 5000]
 *                             [--connections 16,64] [--sark-args "..."]
 *                             [--clickhouse-nice 0] [--out loadtest/results/audit-overhead.json]
 *
 * Per run it records the latency percentiles, the CPU seconds SARK and
 * ClickHouse used during the measured window, and for audited runs the rows
 * that reached ClickHouse against the events SARK queued for it (its
 * sark_audit_events_queued_total, one per decision, warm-up included), read
 * after SARK's SIGTERM flush. The added P95 is the
 * median of the audited runs' P95 minus the median of the others'; single
 * runs on a shared 2-core machine vary by several ms, hence the rounds.
 *
 * --clickhouse-nice N runs ClickHouse at that scheduling niceness. In
 * production ClickHouse runs on other hosts; here it shares the two cores with
 * SARK, the upstream and the load generator, and a low priority lets the
 * benchmark tell SARK's own audit cost from that contention.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { startClickHouse, startOpa } from '../test/support/services.ts';
import {
  assertAllowed,
  BODY,
  cpuSeconds,
  HEADERS,
  round as hundredths,
  loadtestPolicyPaths,
  MAIN,
  ROOT,
  type RunResult,
  run,
  startSark,
  startUpstream,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    duration: { type: 'string', default: '10' },
    rate: { type: 'string', default: '5000' },
    connections: { type: 'string', default: '16,64' },
    'sark-args': { type: 'string', default: '' },
    'clickhouse-nice': { type: 'string', default: '0' },
    out: { type: 'string', default: join(ROOT, 'loadtest/results/audit-overhead.json') },
  },
});
const rounds = Number(values.rounds);
const durationS = Number(values.duration);
const rate = Number(values.rate);
const connectionSets = values.connections!.split(',').map(Number);
const sarkArgs = values['sark-args']!.split(' ').filter(Boolean);
const nice = Number(values['clickhouse-nice']);

interface Arm {
  readonly audit: boolean;
  readonly connections: number;
  readonly round: number;
  readonly latencyMs: RunResult['latencyMs'];
  readonly reqPerSec: number;
  readonly non2xx: number;
  readonly errors: number;
  /** CPU seconds per 1000 measured requests. */
  readonly sarkCpuMsPerKReq: number;
  readonly clickhouseCpuMsPerKReq: number;
  /** Audited runs: rows that landed, against the events SARK queued for ClickHouse (one per decision). */
  readonly rows?: number;
  readonly queued?: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main() {
  const opa = await startOpa({ paths: loadtestPolicyPaths() });
  const upstream = await startUpstream();
  const clickhouse = await startClickHouse();
  const arms: Arm[] = [];
  try {
    execFileSync(process.execPath, [MAIN, 'migrate', '--audit-clickhouse-url', clickhouse.url], { stdio: 'ignore' });
    // Only ClickHouse's own processes: SARK's command line names a spool directory, kept apart for that reason.
    const chProcess = join(clickhouse.dir, 'config.xml');
    if (nice !== 0) {
      for (const pid of execFileSync('pgrep', ['-f', chProcess], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
        execFileSync('renice', ['-n', String(nice), '-p', pid]);
      }
    }
    const spoolRoot = mkdtempSync(join(tmpdir(), 'sark-audit-spool-'));
    const rowCount = async () => {
      const q = encodeURIComponent('SELECT count() FROM sark.audit_events');
      return Number((await (await fetch(`${clickhouse.url}/?query=${q}`)).text()).trim());
    };
    for (const connections of connectionSets) {
      for (let round = 0; round < rounds; round++) {
        // ABBA: each arm runs first in half the rounds, so drift over time cancels out.
        const order = round % 2 === 0 ? [false, true] : [true, false];
        for (const audit of order) {
          const extra = audit
            ? [
                '--audit-clickhouse-url',
                clickhouse.url,
                '--audit-spool-dir',
                join(spoolRoot, `${connections}-${round}`),
              ]
            : [];
          const sark = await startSark(upstream.url, opa.url, ['--audit-file', 'off', ...extra, ...sarkArgs]);
          const rowsBefore = audit ? await rowCount() : 0;
          let queued = 0;
          let result: RunResult;
          let sarkCpu: number;
          let chCpu: number;
          try {
            await assertAllowed(`c=${connections} audit ${audit ? 'on' : 'off'}`, sark.url);
            await run({ url: sark.url, body: BODY, headers: HEADERS, connections, durationS: 3, rate });
            const sark0 = cpuSeconds(sark.proc.pid!);
            const ch0 = cpuSeconds(chProcess);
            result = await run({ url: sark.url, body: BODY, headers: HEADERS, connections, durationS, rate });
            sarkCpu = cpuSeconds(sark.proc.pid!) - sark0;
            chCpu = cpuSeconds(chProcess) - ch0;
            if (audit) {
              await new Promise((r) => setTimeout(r, 500)); // requests still in flight when autocannon stopped
              const metrics = await (await fetch(`${sark.adminUrl}/metrics`)).text();
              queued = Number(
                /^sark_audit_events_queued_total\{sink="clickhouse"(?:,[^}]*)?\} (\d+)/m.exec(metrics)?.[1] ?? -1,
              );
            }
          } finally {
            await sark.stop(); // SIGTERM: the audit queue is flushed within its grace period
          }
          const perK = (s: number) => hundredths((s * 1000 * 1000) / Math.max(result.requests, 1));
          const arm: Arm = {
            audit,
            connections,
            round,
            latencyMs: result.latencyMs,
            reqPerSec: result.reqPerSec,
            non2xx: result.non2xx,
            errors: result.errors,
            sarkCpuMsPerKReq: perK(sarkCpu),
            clickhouseCpuMsPerKReq: perK(chCpu),
            ...(audit ? { rows: (await rowCount()) - rowsBefore, queued } : {}),
          };
          arms.push(arm);
          process.stdout.write(
            `c=${connections} round ${round} audit ${audit ? 'on ' : 'off'}: ${arm.reqPerSec} req/s, p50 ${arm.latencyMs.p50} p95 ${arm.latencyMs.p95} p99 ${arm.latencyMs.p99} ms, ` +
              `cpu/1k req sark ${arm.sarkCpuMsPerKReq} ms, clickhouse ${arm.clickhouseCpuMsPerKReq} ms` +
              (audit ? `, rows ${arm.rows}/${queued}` : '') +
              '\n',
          );
        }
      }
    }
  } finally {
    await upstream.stop();
    await opa.stop();
    await clickhouse.stop();
  }

  const summary = connectionSets.map((connections) => {
    const pick = (audit: boolean) => arms.filter((a) => a.connections === connections && a.audit === audit);
    const off = pick(false);
    const on = pick(true);
    const med = (xs: Arm[], f: (a: Arm) => number) => hundredths(median(xs.map(f)));
    return {
      connections,
      p95OffMs: med(off, (a) => a.latencyMs.p95),
      p95OnMs: med(on, (a) => a.latencyMs.p95),
      addedP95Ms: hundredths(median(on.map((a) => a.latencyMs.p95)) - median(off.map((a) => a.latencyMs.p95))),
      addedP50Ms: hundredths(median(on.map((a) => a.latencyMs.p50)) - median(off.map((a) => a.latencyMs.p50))),
      p95RangeOffMs: [Math.min(...off.map((a) => a.latencyMs.p95)), Math.max(...off.map((a) => a.latencyMs.p95))],
      p95RangeOnMs: [Math.min(...on.map((a) => a.latencyMs.p95)), Math.max(...on.map((a) => a.latencyMs.p95))],
      sarkCpuMsPerKReq: { off: med(off, (a) => a.sarkCpuMsPerKReq), on: med(on, (a) => a.sarkCpuMsPerKReq) },
      clickhouseCpuMsPerKReq: {
        off: med(off, (a) => a.clickhouseCpuMsPerKReq),
        on: med(on, (a) => a.clickhouseCpuMsPerKReq),
      },
      everyDecisionLanded: on.every((a) => a.rows === a.queued),
      errors: arms.reduce((n, a) => n + a.errors + a.non2xx, 0),
    };
  });
  const result = {
    command: `npm run loadtest:audit -- --rounds ${rounds} --duration ${durationS} --rate ${rate} --connections ${connectionSets.join(',')}${sarkArgs.length ? ` --sark-args "${sarkArgs.join(' ')}"` : ''}${nice ? ` --clickhouse-nice ${nice}` : ''}`,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30) },
    setup: `OPA, lean upstream, ClickHouse 18.16 (running in both arms${nice ? `, at nice ${nice}` : ''}), SARK and autocannon, each its own process, on the same 2 cores; audit off vs. audit to ClickHouse, ABBA order`,
    target: { addedP95Ms: 1 },
    summary,
    runs: arms,
  };
  mkdirSync(dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\nwritten to ${values.out}\n`);
}

await main();
