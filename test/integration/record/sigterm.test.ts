/**
 * SIGTERM under load loses no audit event: a real `sark serve` process audits
 * to a ClickHouse that cannot accept anything (frozen), is stopped with
 * SIGTERM while requests flow, and exits cleanly after spilling to its spool;
 * a new process on the same spool, with ClickHouse back, delivers every event
 * exactly once (distinct request ids = answered requests).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../../src/cli/migrate.ts';
import { type DemoServer, startDemoServer } from '../../../src/demo/server.ts';
import { until } from '../../support/audit-events.ts';
import { type Service, startClickHouse } from '../../support/services.ts';

const MAIN = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
const TRACE = '5bf92f3577b34da6a3ce929d0e0e4799';

async function query(ch: Service, sql: string): Promise<string> {
  const res = await fetch(`${ch.url}/?query=${encodeURIComponent(sql)}`);
  return (await res.text()).trim();
}

const spawned: ChildProcess[] = [];

function serve(args: string[]): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(
    process.execPath,
    [MAIN, 'serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--log-level', 'warn', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sark did not start:\n${out}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /MCP endpoint \(Streamable HTTP\): (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1]! });
      }
    });
    proc.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.once('exit', (code) => reject(new Error(`sark exited ${code}:\n${out}`)));
  });
}

describe('audit across SIGTERM', () => {
  let ch: Service;
  let upstream: DemoServer;
  const spool = mkdtempSync(join(tmpdir(), 'sark-sigterm-spool-'));

  beforeAll(async () => {
    [ch, upstream] = await Promise.all([startClickHouse(), startDemoServer({ jsonResponse: true })]);
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    expect(await migrateCommand(['--audit-clickhouse-url', ch.url], sink)).toBe(0);
  });

  afterAll(async () => {
    // Whatever happened in the test, no sidecar outlives it.
    for (const p of spawned) if (p.exitCode === null) p.kill('SIGKILL');
    ch?.thaw();
    await upstream?.close();
    await ch?.stop();
    rmSync(spool, { recursive: true, force: true });
  });

  it('spills on SIGTERM and the next process delivers every event once', async () => {
    const args = [
      '--upstream-url',
      upstream.url,
      '--audit-file',
      'off',
      '--audit-clickhouse-url',
      ch.url,
      '--audit-spool-dir',
      spool,
      '--audit-send-timeout-ms',
      '500',
      '--audit-close-grace-ms',
      '3000',
    ];
    const first = await serve(args);
    ch.freeze();
    let answered = 0;
    let stop = false;
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'x' } },
    });
    const worker = async () => {
      while (!stop) {
        try {
          const res = await fetch(first.url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
              traceparent: `00-${TRACE}-00f067aa0ba902b7-01`,
            },
            body,
          });
          await res.arrayBuffer();
          // Allowed or refused (the anonymous agent's rate limit soon answers 429): every answer was a decision.
          answered++;
        } catch {
          return; // the process is gone
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await until('some load', () => answered >= 500, 20_000);
    const exited = new Promise<number | null>((r) => first.proc.once('exit', (code) => r(code)));
    first.proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    stop = true;
    await Promise.all(workers);
    expect(answered).toBeGreaterThanOrEqual(500);

    ch.thaw();
    const second = await serve(args);
    try {
      await until(
        'every answered request in ClickHouse',
        async () =>
          Number(await query(ch, `SELECT uniqExact(request_id) FROM sark.audit_events WHERE trace_id = '${TRACE}'`)) >=
          answered,
        40_000,
      );
      await query(ch, 'OPTIMIZE TABLE sark.audit_events FINAL');
      const distinct = Number(
        await query(ch, `SELECT uniqExact(request_id) FROM sark.audit_events WHERE trace_id = '${TRACE}'`),
      );
      const rows = Number(await query(ch, `SELECT count() FROM sark.audit_events FINAL WHERE trace_id = '${TRACE}'`));
      // Requests in flight at SIGTERM may have been decided (and audited) without their answer arriving.
      expect(distinct).toBeGreaterThanOrEqual(answered);
      expect(distinct).toBeLessThanOrEqual(answered + 8);
      expect(rows).toBe(distinct);
    } finally {
      second.proc.kill('SIGTERM');
    }
  }, 90_000);
});
