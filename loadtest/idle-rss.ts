/**
 * SARK's resident memory when idle, as an operator would see it: `sark serve`
 * started with `node bin/sark.js` (dist/ when built, as in the image; else the
 * TypeScript sources, whose type stripping alone costs ~25 MiB) on embedded
 * defaults (bundled policy in WASM, demo server) and in front of a real OPA
 * and a plain upstream (the production shape), warmed with a few calls, then
 * left alone; VmRSS is read from /proc after `--settle-s` seconds, the median
 * of `--runs` starts.
 *
 *   npx node loadtest/idle-rss.ts [--root .] [--runs 3] [--settle-s 5]
 *                                 [--label after] [--out loadtest/results/idle-rss.json]
 *
 * --root runs another checkout's or image layout's bin/sark.js (with this
 * checkout's OPA, upstream and harness), to compare a change against the code
 * before it; results accumulate in the --out file under --label. A shape the
 * installation cannot run (embedded defaults without the demo) is recorded as
 * an error.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startOpa } from '../test/support/services.ts';
import { BODY, HEADERS, ROOT, spawnNode, startUpstream } from './lib.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: ROOT },
    runs: { type: 'string', default: '3' },
    'settle-s': { type: 'string', default: '5' },
    label: { type: 'string', default: 'after' },
    out: { type: 'string', default: join(ROOT, 'loadtest/results/idle-rss.json') },
  },
});
const root = resolve(values.root!);
const runs = Number(values.runs);
const settleMs = Number(values['settle-s']) * 1000;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : Number.NaN;
}

async function measure(args: string[], headers: Record<string, string>): Promise<number> {
  const adminPort = await freePort();
  const sark = await spawnNode(
    join(root, 'bin/sark.js'),
    ['serve', '--listen', '127.0.0.1:0', '--admin-listen', `127.0.0.1:${adminPort}`, '--log-level', 'warn', ...args],
    /MCP endpoint \(Streamable HTTP\): (\S+)/,
    {},
    // A scratch directory: the embedded default writes ./sark-audit.ndjson.
    mkdtempSync(join(tmpdir(), 'sark-idle-rss-')),
  );
  try {
    for (let i = 0; i < 10; i++) {
      const res = await fetch(sark.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: BODY,
      });
      await res.text();
    }
    await new Promise((r) => setTimeout(r, settleMs));
    return rssMiB(sark.proc.pid!);
  } finally {
    await sark.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const opa = await startOpa();
const upstream = await startUpstream();
const keys = join(ROOT, 'loadtest/fixtures/keys.json');
const shapes: Record<string, { args: string[]; headers: Record<string, string> }> = {
  embedded_defaults: { args: [], headers: { 'mcp-protocol-version': '2025-11-25' } },
  opa_url: {
    args: ['--opa-url', opa.url, '--upstream-url', upstream.url, '--api-keys-file', keys, '--audit-file', 'off'],
    headers: HEADERS,
  },
};
const result: Record<string, { medianMiB: number; runsMiB: number[] } | { error: string }> = {};
try {
  for (const [name, shape] of Object.entries(shapes)) {
    const samples: number[] = [];
    try {
      for (let i = 0; i < runs; i++) samples.push(await measure(shape.args, shape.headers));
      result[name] = { medianMiB: median(samples), runsMiB: samples };
    } catch (err) {
      result[name] = {
        error: String((err as Error).message)
          .split('\n')
          .slice(0, 3)
          .join(' '),
      };
    }
    process.stdout.write(`${values.label} ${name}: ${JSON.stringify(result[name])}\n`);
  }
} finally {
  await upstream.stop();
  await opa.stop();
}

const previous = existsSync(values.out!) ? JSON.parse(readFileSync(values.out!, 'utf8')) : {};
const report = {
  command: 'npx node loadtest/idle-rss.ts [--root <checkout>] --label <label>',
  machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  setup: `VmRSS of \`sark serve\` (node bin/sark.js) after 10 calls and ${settleMs / 1000} s idle, median of ${runs} starts; opa_url: in front of OPA 1.22 and loadtest/upstream.ts with an API key, audit off`,
  ...previous,
  [values.label!]: { date: new Date().toISOString(), root, ...result },
};
mkdirSync(dirname(values.out!), { recursive: true });
writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`written to ${values.out}\n`);
