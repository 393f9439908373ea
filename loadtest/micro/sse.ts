/**
 * Micro-benchmark: SSE framing, the hand-written splitter SARK had
 * (src/mcp/sse.ts before the one-pipeline change, inlined here) against
 * eventsource-parser, which src/forward/sse-relay.ts and legacy.ts now use.
 * Two shapes: one 1 MiB event arriving in 1 KiB chunks (the old splitter
 * rescanned its whole buffer on every chunk: quadratic), and 10 000 small
 * events arriving in 64 KiB chunks (the common case).
 *
 *   npx node loadtest/micro/sse.ts [--write]
 */
import { StringDecoder } from 'node:string_decoder';
import { createParser } from 'eventsource-parser';

const BOUNDARY = /\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n/;

class OldSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #buffer = '';
  push(chunk: Buffer): string[] {
    this.#buffer += this.#decoder.write(chunk);
    const out: string[] = [];
    for (;;) {
      const m = BOUNDARY.exec(this.#buffer);
      if (!m) break;
      const end = m.index + m[0].length;
      out.push(this.#buffer.slice(0, end));
      this.#buffer = this.#buffer.slice(end);
    }
    return out;
  }
}

function chunks(text: string, size: number): Buffer[] {
  const b = Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

const big = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { text: 'x'.repeat(1 << 20) } })}\n\n`;
const small = Array.from(
  { length: 10_000 },
  (_, i) =>
    `event: message\nid: ${i}\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":${i}}}\n\n`,
).join('');
const SHAPES = {
  'one 1 MiB event, 1 KiB chunks': chunks(big, 1024),
  '10k small events, 64 KiB chunks': chunks(small, 65536),
};

function old(input: Buffer[]): number {
  const s = new OldSplitter();
  let n = 0;
  for (const c of input) n += s.push(c).length;
  return n;
}

function parser(input: Buffer[]): number {
  let n = 0;
  const decoder = new StringDecoder('utf8');
  const p = createParser({ onEvent: () => n++ });
  for (const c of input) p.feed(decoder.write(c));
  return n;
}

const out: Record<string, Record<string, number>> = {};
for (const [shape, input] of Object.entries(SHAPES)) {
  out[shape] = {};
  for (const [name, fn] of [
    ['hand-written splitter', old],
    ['eventsource-parser', parser],
  ] as const) {
    const times: number[] = [];
    for (let r = 0; r < 7; r++) {
      const t0 = performance.now();
      fn(input);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    out[shape]![name] = Math.round(times[3]! * 100) / 100;
  }
}
const summary = { command: 'npx node loadtest/micro/sse.ts --write', node: process.version, median_ms: out };
console.log(JSON.stringify(summary, null, 2));
if (process.argv.includes('--write')) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(new URL('../results/micro-sse.json', import.meta.url), `${JSON.stringify(summary, null, 2)}\n`);
}
