/**
 * The open-loop load generator of the SDK workload, in its own process.
 *
 *   node loadtest/generator.ts '<GeneratorSpec as JSON>'
 *
 * It does the workload's handshake once (MCP 2025 `initialize` +
 * `notifications/initialized` on one session for the SDK v1 server;
 * `server/discover` and then self-contained 2026-07-28 requests for the SDK v2
 * server; nothing for OPA), prints `{"ready":…}`, then takes one JSON command
 * per line on stdin (see workload-protocol.ts) and answers each with one line.
 *
 * Open loop: request i of a run is due at start + i / rate, whatever happened
 * to the ones before, and its latency is measured from that due time, not
 * from when it was sent. A target that stalls therefore shows the whole
 * stall in every request queued behind it (no coordinated omission; Gil Tene,
 * "How NOT to measure latency"). Requests go over one undici keep-alive pool;
 * latencies land in an HdrHistogram (1 µs … 2 min, 3 significant digits).
 */
import { createInterface } from 'node:readline';
import { build, type Histogram } from 'hdr-histogram-js';
import { Pool } from 'undici';
import { boundLifetime } from './lifetime.ts';
import { type CpuReading, cpuWindow, readCpu, resolveWatch, rssMiBOf } from './proc.ts';
import type { GeneratorSpec, RunCommand, RunResult, Sample } from './workload-protocol.ts';

const spec = JSON.parse(process.argv[2]!) as GeneratorSpec;
const target = new URL(spec.url);
let pool = newPool();

function newPool(): Pool {
  return new Pool(target.origin, {
    connections: spec.connections,
    keepAliveTimeout: 30_000,
    headersTimeout: spec.timeoutMs,
    bodyTimeout: spec.timeoutMs,
  });
}

const MCP_JSON = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const CLIENT_INFO = { name: 'sark-loadtest', version: '1.0.0' };
const META_2026 = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': CLIENT_INFO,
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** Every message sent to the target so far, handshake included (an audited SARK records one event each). */
let messagesSent = 0;

async function post(headers: Record<string, string>, body: string) {
  messagesSent++;
  const res = await pool.request({ path: target.pathname, method: 'POST', headers, body });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** The per-call headers and a body maker (a fresh JSON-RPC id per call: a session must not see one twice in flight). */
async function handshake(): Promise<{ headers: Record<string, string>; body: (id: number) => string }> {
  const base = { ...MCP_JSON, ...spec.headers };
  if (spec.workload === 'opa') {
    const body = JSON.stringify({ input: spec.opaInput });
    return { headers: { 'content-type': 'application/json', ...spec.headers }, body: () => body };
  }
  const args = JSON.stringify({ text: 'load test' });
  if (spec.workload === 'mcp-v2') {
    const headers = { ...base, 'mcp-protocol-version': '2026-07-28' };
    const discover = await post(
      { ...headers, 'mcp-method': 'server/discover' },
      JSON.stringify({ jsonrpc: '2.0', id: 'discover', method: 'server/discover', params: { _meta: META_2026 } }),
    );
    if (discover.status !== 200 || !discover.text.includes('"result"')) {
      throw new Error(`server/discover: HTTP ${discover.status} ${discover.text.slice(0, 300)}`);
    }
    const meta = JSON.stringify(META_2026);
    return {
      headers: { ...headers, 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
      body: (id) =>
        `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":${args},"_meta":${meta}}}`,
    };
  }
  const init = await post(
    { ...base, 'mcp-protocol-version': '2025-11-25' },
    JSON.stringify({
      jsonrpc: '2.0',
      id: 'init',
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: CLIENT_INFO },
    }),
  );
  const session = init.headers['mcp-session-id'];
  if (init.status !== 200 || typeof session !== 'string') {
    throw new Error(`initialize: HTTP ${init.status}, session ${String(session)}: ${init.text.slice(0, 300)}`);
  }
  const headers = { ...base, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
  const initialized = await post(headers, '{"jsonrpc":"2.0","method":"notifications/initialized"}');
  if (initialized.status !== 202) throw new Error(`notifications/initialized: HTTP ${initialized.status}`);
  return {
    headers,
    body: (id) => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":${args}}}`,
  };
}

const newHistogram = (): Histogram =>
  build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });

const ms = (us: number) => Math.round(us) / 1000;

function percentiles(h: Histogram) {
  return {
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

let nextId = 1;

async function run(
  cmd: RunCommand,
  call: { headers: Record<string, string>; body: (id: number) => string },
): Promise<RunResult> {
  const interval = 1000 / cmd.rate;
  const warmupN = Math.round(cmd.rate * cmd.warmupS);
  const measuredN = Math.round(cmd.rate * cmd.durationS);
  const total = warmupN + measuredN;
  const parties = resolveWatch(cmd.watch);
  const histogram = newHistogram();
  const interim = newHistogram();
  const errors: Record<string, number> = {};
  let ok = 0;
  let okInWindow = 0;
  let doneInWindow = 0;
  let outstanding = 0;
  let cpuStart: CpuReading | undefined;
  let cpuEnd: CpuReading | undefined;
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  let lateSends = 0; // sends more than 5 ms behind their due time: the generator itself fell behind
  const rss: Record<string, number[]> = {};
  const samples: Sample[] = [];
  let interimOk = 0;
  let interimErrors = 0;

  const fail = (kind: string, measured: boolean) => {
    if (!measured) return;
    errors[kind] = (errors[kind] ?? 0) + 1;
    interimErrors++;
  };

  const send = (due: number, measured: boolean) => {
    outstanding++;
    messagesSent++;
    pool
      .request({ path: target.pathname, method: 'POST', headers: call.headers, body: call.body(nextId++) })
      .then(async (res) => {
        const text = await res.body.text();
        const done = performance.now();
        if (done >= windowStart && done <= windowEnd) doneInWindow++;
        if (res.statusCode !== 200) return fail(`http_${res.statusCode}`, measured);
        if (!text.includes(spec.expect) || text.includes('"isError":true')) return fail('refused', measured);
        if (!measured) return;
        const us = Math.max(1, Math.round((done - due) * 1000));
        histogram.recordValue(us);
        interim.recordValue(us);
        ok++;
        interimOk++;
        if (done >= windowStart && done <= windowEnd) okInWindow++;
      })
      .catch((err: Error & { code?: string }) => fail(err.code ?? err.name, measured))
      .finally(() => {
        outstanding--;
      });
  };

  // RSS under load, every second of the measured window; soak samples every sampleEveryS.
  let rssTimer: NodeJS.Timeout | undefined;
  let sampleTimer: NodeJS.Timeout | undefined;
  const sampleRss = () => {
    for (const [name, pids] of Object.entries(parties)) {
      const xs = rss[name] ?? [];
      xs.push(rssMiBOf(pids));
      rss[name] = xs;
    }
  };
  let clockStartUs = 0;
  let clockEndUs = 0;
  const openWindow = (due: number) => {
    clockStartUs = Number(process.hrtime.bigint() / 1000n);
    cpuStart = readCpu(parties);
    windowStart = due;
    sampleRss();
    rssTimer = setInterval(sampleRss, 1000);
    if (cmd.sampleEveryS) {
      sampleTimer = setInterval(() => {
        const rssNow: Record<string, number> = {};
        for (const [name, pids] of Object.entries(parties)) rssNow[name] = round1(rssMiBOf(pids));
        const sample: Sample = {
          atS: round1((performance.now() - windowStart) / 1000),
          rssMiB: rssNow,
          ok: interimOk,
          errors: interimErrors,
          latencyMs: percentiles(interim),
        };
        samples.push(sample);
        process.stdout.write(`${JSON.stringify({ id: cmd.id, sample })}\n`);
        interim.reset();
        interimOk = 0;
        interimErrors = 0;
      }, cmd.sampleEveryS * 1000);
    }
  };

  const start = performance.now() + 5;
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (i < total && start + i * interval <= now) {
        const due = start + i * interval;
        if (i === warmupN) openWindow(due);
        if (now - due > 5) lateSends++;
        send(due, i >= warmupN);
        i++;
      }
      if (i >= total) {
        windowEnd = performance.now();
        clockEndUs = Number(process.hrtime.bigint() / 1000n);
        cpuEnd = readCpu(parties);
        sampleRss();
        return resolve();
      }
      setTimeout(tick, Math.max(0, start + i * interval - now));
    };
    tick();
  });
  clearInterval(rssTimer);
  clearInterval(sampleTimer);

  const drainDeadline = performance.now() + spec.timeoutMs + 1000;
  while (outstanding > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 10));
  if (outstanding > 0) {
    // Still queued in the pool past every deadline: count them lost and start afresh.
    errors.lost = (errors.lost ?? 0) + outstanding;
    await pool.destroy().catch(() => {});
    pool = newPool();
  }
  const windowS = (windowEnd - windowStart) / 1000;
  const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
  const rssOut: RunResult['rssMiB'] = {};
  for (const [name, xs] of Object.entries(rss)) {
    if (xs.length === 0) continue;
    rssOut[name] = { mean: round1(xs.reduce((a, b) => a + b, 0) / xs.length), max: round1(Math.max(...xs)) };
  }
  return {
    rate: cmd.rate,
    durationS: round3(windowS),
    requests: measuredN,
    ok,
    errors: errorCount,
    errorKinds: errors,
    errorRate: measuredN > 0 ? errorCount / measuredN : 0,
    achievedRate: round1(okInWindow / windowS),
    lateSends,
    latencyMs: percentiles(histogram),
    // Per answer completed in the window: the same as per request scheduled while the target keeps up,
    // and still the cost of one call when it does not (a backlog grows instead of being served).
    cpu: cpuStart && cpuEnd ? cpuWindow(cpuStart, cpuEnd, doneInWindow) : undefined,
    answersInWindow: doneInWindow,
    windowClockUs: [clockStartUs, clockEndUs],
    messagesSent,
    rssMiB: rssOut,
    samples,
  };
}

const round1 = (v: number) => Math.round(v * 10) / 10;
const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** The handshake, tried up to five times: a cold target may miss its first policy deadline, as a client would see. */
async function connect(): Promise<Awaited<ReturnType<typeof handshake>>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await handshake();
    } catch (err) {
      if (attempt === 5) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const call = await connect().catch((err: Error) => {
  process.stdout.write(`${JSON.stringify({ ready: false, error: err.message })}\n`);
  process.exit(1);
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
boundLifetime(() => {
  pool.destroy().finally(() => process.exit(0));
});
const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  const cmd = JSON.parse(line) as RunCommand;
  queue = queue.then(async () => {
    const result = await run(cmd, call);
    process.stdout.write(`${JSON.stringify({ id: cmd.id, result })}\n`);
  });
});
