/** The harness's progress lines on stdout. */
import type { RunResult } from './workload-protocol.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

export function summary(r: RunResult): string {
  const cpu = r.cpu
    ? Object.entries(r.cpu.cpuMsPerCall)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(', ')
    : '';
  return (
    `${r.rate} req/s: achieved ${r.achievedRate}, p50 ${r.latencyMs.p50} p99 ${r.latencyMs.p99} max ${r.latencyMs.max} ms, ` +
    `errors ${r.errors}${r.lateSends ? `, late sends ${r.lateSends}` : ''}; CPU ms/call ${cpu}; other load ${r.cpu?.otherBusyCores.toFixed(2)} cores`
  );
}
