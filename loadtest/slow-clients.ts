/**
 * The slow-client attack of issue 14, at full size: N connections (4,000 by
 * default) each send a complete set of POST headers and then one body byte
 * every 2 s, against `sark serve` on embedded defaults (bundled policy, demo
 * server), once with the listener's deadlines and cap off (the behaviour
 * before them) and once with the defaults. Meanwhile one normal client calls
 * a tool every 250 ms (as an API-key developer agent: 4 calls/s, within the
 * policy's default 600 a minute). Records, per arm: connections held, when they were cut
 * (ms after they opened), SARK's RSS idle / at the peak / after, and what the
 * normal client saw.
 *
 *   npx node loadtest/slow-clients.ts [--connections 4000] [--drip-ms 2000]
 *                                     [--observe-s 40] [--out loadtest/results/slow-clients.json]
 *
 * --observe-s bounds each arm: an arm ends when every slow connection is
 * closed or after that many seconds, whichever comes first.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../test/support/services.ts';
import { HEADERS, MAIN, ROOT, spawnNode } from './lib.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '4000' },
    'drip-ms': { type: 'string', default: '2000' },
    'observe-s': { type: 'string', default: '40' },
    out: { type: 'string', default: join(ROOT, 'loadtest/results/slow-clients.json') },
  },
});
const connections = Number(values.connections);
const dripMs = Number(values['drip-ms']);
const observeMs = Number(values['observe-s']) * 1000;

const CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'normal client' } },
});

const ARMS = {
  unprotected: [
    '--headers-timeout-ms',
    '0',
    '--request-timeout-ms',
    '0',
    '--request-body-idle-timeout-ms',
    '0',
    '--max-connections',
    '0',
  ],
  defaults: [],
} as const;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
}

function quantiles(values: number[]): { min: number; p50: number; p99: number; max: number } | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
  return { min: Math.round(s[0]!), p50: at(0.5), p99: at(0.99), max: Math.round(s.at(-1)!) };
}

interface Slow {
  socket: Socket;
  openedAt: number;
  closedAt?: number;
}

async function openSlow(url: URL, timers: NodeJS.Timeout[]): Promise<Slow> {
  const head = `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: 65536\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const slow: Slow = { socket, openedAt: 0 };
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.once('close', () => {
      slow.closedAt = performance.now();
    });
    socket.once('connect', () => {
      slow.openedAt = performance.now();
      socket.write(head);
      // Spread the drips over the interval, as independent clients would.
      const start = setTimeout(() => {
        const t = setInterval(() => socket.writable && socket.write('{'), dripMs);
        timers.push(t);
      }, Math.random() * dripMs);
      timers.push(start);
      resolve(slow);
    });
    socket.once('error', reject);
  });
}

async function runArm(name: keyof typeof ARMS) {
  const adminPort = await freePort();
  const sark = await spawnNode(
    MAIN,
    [
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
      '--audit-file',
      'off',
      '--log-level',
      'warn',
      '--api-keys-file',
      join(ROOT, 'loadtest/fixtures/keys.json'),
      ...ARMS[name],
    ],
    /MCP endpoint \(Streamable HTTP\): (\S+)/,
  );
  const pid = sark.proc.pid!;
  const url = new URL(sark.url);
  const timers: NodeJS.Timeout[] = [];
  try {
    // Warm up, then measure idle.
    for (let i = 0; i < 20; i++) await call(sark.url);
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdle = rssMiB(pid);

    const slow: Slow[] = [];
    const t0 = performance.now();
    // In batches: a burst of thousands of SYNs would overflow the listen backlog.
    for (let i = 0; i < connections; i += 200) {
      const n = Math.min(200, connections - i);
      slow.push(...(await Promise.all(Array.from({ length: n }, () => openSlow(url, timers)))));
    }
    const openMs = performance.now() - t0;

    const normal = { served: 0, failed: 0, latencies: [] as number[] };
    let running = true;
    const normalLoop = (async () => {
      while (running) {
        const started = performance.now();
        const ok = await call(sark.url);
        normal.latencies.push(performance.now() - started);
        if (ok) normal.served++;
        else normal.failed++;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    const samples: { s: number; open: number; rssMiB: number }[] = [];
    let peakOpen = 0;
    let peakRss = rssIdle;
    const deadline = t0 + observeMs;
    while (performance.now() < deadline) {
      const open = slow.filter((c) => c.closedAt === undefined).length;
      const rss = rssMiB(pid);
      peakOpen = Math.max(peakOpen, open);
      peakRss = Math.max(peakRss, rss);
      samples.push({ s: Math.round((performance.now() - t0) / 1000), open, rssMiB: rss });
      if (open === 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    running = false;
    await normalLoop;
    const stillOpen = slow.filter((c) => c.closedAt === undefined).length;
    const closedAfterMs = slow.filter((c) => c.closedAt !== undefined).map((c) => c.closedAt! - c.openedAt);
    for (const t of timers) clearInterval(t);
    for (const c of slow) c.socket.destroy();
    await new Promise((r) => setTimeout(r, 2000));
    return {
      sarkArgs: ARMS[name].join(' ') || '(defaults)',
      openedInMs: Math.round(openMs),
      connectionsHeldPeak: peakOpen,
      stillOpenAtEnd: stillOpen,
      observedS: Math.round((Math.min(performance.now(), deadline) - t0) / 1000),
      closedAfterMs: quantiles(closedAfterMs),
      rssMiB: { idle: rssIdle, peak: peakRss, afterRelease: rssMiB(pid) },
      normalClient: {
        served: normal.served,
        failed: normal.failed,
        latencyMs: quantiles(normal.latencies),
      },
      samples,
    };
  } finally {
    for (const t of timers) clearInterval(t);
    await sark.stop();
  }
}

async function call(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...HEADERS,
      },
      body: CALL,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return res.status === 200 && text.includes('normal client');
  } catch {
    return false;
  }
}

const results: Record<string, unknown> = {};
for (const arm of Object.keys(ARMS) as (keyof typeof ARMS)[]) {
  process.stdout.write(`${arm}: ${connections} slow connections, one byte every ${dripMs} ms…\n`);
  results[arm] = await runArm(arm);
  const r = results[arm] as {
    connectionsHeldPeak: number;
    stillOpenAtEnd: number;
    closedAfterMs: unknown;
    rssMiB: unknown;
  };
  process.stdout.write(`${JSON.stringify({ ...r, samples: undefined })}\n`);
}
const report = {
  command: `npx node loadtest/slow-clients.ts --connections ${connections} --drip-ms ${dripMs} --observe-s ${observeMs / 1000}`,
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  setup:
    'sark serve on embedded defaults (WASM policy, bundled demo server, audit off) in its own process; the slow clients and the normal client in this one, same 2 cores',
  attack: `${connections} connections, each: POST headers with content-length 65536, then one body byte every ${dripMs} ms`,
  results,
};
mkdirSync(dirname(values.out!), { recursive: true });
writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`written to ${values.out}\n`);
