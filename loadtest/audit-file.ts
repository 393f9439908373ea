/**
 * What the rotated audit file (src/record/local.ts: rotating-file-stream,
 * lines of one event-loop turn joined into one write) costs against the
 * recorder it replaced (one fs.WriteStream, one write per event), in this
 * process, arms alternated (ABAB…):
 *
 * - paced: `--rate` events/s (5,000 by default) for `--duration` s, events
 *   recorded in small groups as requests would; the CPU time per event (the
 *   whole process, generator included, so only the difference between arms
 *   means anything) and the event loop's delay p99;
 * - flat out: events recorded as fast as the loop allows for `--duration` s,
 *   1,000 per turn, then the recorder closed; the events on disk per second
 *   until then (past 64 MiB waiting, both arms drop events).
 *
 * The rotated arm rotates at 64 MiB (and keeps 10 files, so that none of a
 * flat-out run is deleted before it is counted).
 *
 *   npx node loadtest/audit-file.ts [--rate 5000] [--duration 10] [--rounds 2]
 *                                   [--out loadtest/results/audit-file.json]
 */
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { type AuditMetrics, createAuditMetrics } from '../src/observe/metrics.ts';
import type { AuditRecorder } from '../src/record/audit.ts';
import { createAuditFileRecorder } from '../src/record/local.ts';
import { auditEvent } from '../test/support/audit-events.ts';
import { ROOT } from './lib.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '5000' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    out: { type: 'string', default: join(ROOT, 'loadtest/results/audit-file.json') },
  },
});
const rate = Number(values.rate);
const durationMs = Number(values.duration) * 1000;
const rounds = Number(values.rounds);

/** The file recorder before rotation (src/record/audit.ts until this change), kept here as the baseline. */
function writeStreamRecorder(path: string, metrics: AuditMetrics): AuditRecorder {
  const stream = createWriteStream(path, { flags: 'a' });
  const sent = metrics.sent.labels('file');
  return {
    record(event) {
      if (stream.writableLength > 64 * 1024 * 1024) return;
      stream.write(`${JSON.stringify(event)}\n`);
      sent.inc();
    },
    close: () => new Promise<void>((resolve) => stream.end(() => resolve())),
  };
}

type Arm = 'write_stream' | 'rotated';

async function open(arm: Arm, dir: string, metrics: AuditMetrics): Promise<AuditRecorder> {
  const path = join(dir, 'audit.ndjson');
  return arm === 'write_stream'
    ? writeStreamRecorder(path, metrics)
    : createAuditFileRecorder({ path, maxBytes: 64 * 1024 * 1024, maxFiles: 10 }, metrics, undefined);
}

/** Events on disk: every file's bytes over one event's line (the events are the same size). */
function onDisk(dir: string, lineBytes: number): number {
  return Math.round(readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0) / lineBytes);
}

async function sent(metrics: AuditMetrics): Promise<number> {
  return (await metrics.sent.get()).values.reduce((s, v) => s + v.value, 0);
}

async function paced(arm: Arm) {
  const dir = mkdtempSync(join(tmpdir(), 'sark-audit-bench-'));
  const metrics = createAuditMetrics(new Registry());
  const recorder = await open(arm, dir, metrics);
  const events = Array.from({ length: 1000 }, () => auditEvent());
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const tickMs = 5;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  let recorded = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  delay.enable();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(Math.round(((performance.now() - t0) / 1000) * rate), (durationMs / 1000) * rate);
      // Groups of a few events per turn, as concurrent requests finish.
      for (let i = 0; recorded < due && i < perTick * 4; i++) recorder.record(events[recorded++ % events.length]!);
      if (performance.now() - t0 >= durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  await recorder.close();
  delay.disable();
  const cpu = process.cpuUsage(cpu0);
  const elapsedS = (performance.now() - t0) / 1000;
  rmSync(dir, { recursive: true, force: true });
  return {
    events: recorded,
    eventsPerSec: Math.round(recorded / elapsedS),
    written: await sent(metrics),
    cpuUsPerEvent: round((cpu.user + cpu.system) / recorded),
    loopDelayP99Ms: round(delay.percentile(99) / 1e6),
  };
}

async function flatOut(arm: Arm) {
  const dir = mkdtempSync(join(tmpdir(), 'sark-audit-bench-'));
  const metrics = createAuditMetrics(new Registry());
  const recorder = await open(arm, dir, metrics);
  // Events of one size, so that bytes on disk count events.
  const events = Array.from({ length: 1000 }, (_, i) => auditEvent({ request_id: String(i).padStart(36, '0') }));
  const t0 = performance.now();
  let recorded = 0;
  while (performance.now() - t0 < durationMs) {
    for (let i = 0; i < 1000; i++) recorder.record(events[i]!);
    recorded += 1000;
    await new Promise((r) => setImmediate(r));
  }
  // Until the last event is on disk: a recorder that only buffers has not written.
  await recorder.close();
  const elapsedS = (performance.now() - t0) / 1000;
  const written = onDisk(dir, JSON.stringify(events[0]).length + 1);
  rmSync(dir, { recursive: true, force: true });
  return { recorded, written, writtenPerSec: Math.round(written / elapsedS), seconds: round(elapsedS) };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

const runs: Record<Arm, { paced: unknown[]; flatOut: unknown[] }> = {
  write_stream: { paced: [], flatOut: [] },
  rotated: { paced: [], flatOut: [] },
};
for (let r = 0; r < rounds; r++) {
  for (const arm of (r % 2 === 0 ? ['write_stream', 'rotated'] : ['rotated', 'write_stream']) as Arm[]) {
    const p = await paced(arm);
    process.stdout.write(`round ${r + 1} ${arm} paced: ${JSON.stringify(p)}\n`);
    runs[arm].paced.push(p);
    const f = await flatOut(arm);
    process.stdout.write(`round ${r + 1} ${arm} flat out: ${JSON.stringify(f)}\n`);
    runs[arm].flatOut.push(f);
  }
}
const report = {
  command: `npx node loadtest/audit-file.ts --rate ${rate} --duration ${durationMs / 1000} --rounds ${rounds}`,
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  setup:
    'one process; synthetic audit events (test/support/audit-events.ts, ~600 B each) to a file in the OS temp directory; arms alternated',
  arms: {
    write_stream: 'the recorder before rotation: fs.WriteStream, one write per event',
    rotated: 'src/record/local.ts: rotating-file-stream at 64 MiB, 10 files kept; one write per event-loop turn',
  },
  runs,
};
mkdirSync(dirname(values.out!), { recursive: true });
writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`written to ${values.out}\n`);
