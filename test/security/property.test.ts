/**
 * Property: whatever bytes come in, either the upstream receives a message the
 * policy allowed, re-serialized canonically, or it receives nothing.
 *
 * fast-check drives SARK (embedded policy, the same Rego as OPA runs) with
 * arbitrary bodies: mutations of real MCP messages (duplicated keys, swapped
 * names, odd methods, odd nesting), random JSON values and random bytes. A raw
 * upstream records what reaches it; every recorded message is re-decided
 * independently with the policy and must be an allow. Bounded: a fixed
 * number of runs.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyEngine } from '../../src/decide/engine.ts';
import { buildInput } from '../../src/decide/input.ts';
import { createWasmEngine } from '../../src/decide/wasm-engine.ts';
import { ANONYMOUS } from '../../src/identity/identity.ts';
import { classify } from '../../src/mcp/classify.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { type RawUpstream, startRawUpstream } from '../support/raw-upstream.ts';
import { startTestSidecar } from '../support/sidecar.ts';

const METHODS = [
  'tools/call',
  'tools/list',
  'resources/read',
  'prompts/get',
  'initialize',
  'ping',
  'x/y',
  'TOOLS/CALL',
];
const TOOLS = ['echo', 'add', 'get_time', 'delete_file', 'Delete_file', 'echo ', '__proto__', ''];

describe('property: the upstream sees only allowed messages', () => {
  let upstream: RawUpstream;
  let sidecar: Sidecar;
  let policy: PolicyEngine;

  beforeAll(async () => {
    upstream = await startRawUpstream();
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","id":1,"result":{}}');
    };
    sidecar = await startTestSidecar(['--upstream-url', upstream.url]);
    policy = await createWasmEngine({ decisionPath: 'sark/gateway/decision' });
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
  });

  const message = fc.record(
    {
      jsonrpc: fc.constantFrom('2.0', '1.0', 2),
      id: fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null)),
      method: fc.constantFrom(...METHODS),
      params: fc.record(
        {
          name: fc.constantFrom(...TOOLS),
          uri: fc.constantFrom('demo://readme', 'secret://keys', 'file:///etc/passwd'),
          arguments: fc.dictionary(
            fc.constantFrom('text', 'path', 'a', 'b', 'password'),
            fc.jsonValue({ maxDepth: 2 }),
          ),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['method'] },
  );

  /** Text-level mutations that other parsers might read differently. */
  const mutate = (text: string, how: number): string => {
    switch (how) {
      case 0:
        return text;
      case 1:
        return text.replace('"name":', '"name":"echo","name":');
      case 2:
        return text.replace('{', '{"method":"tools/list",');
      case 3:
        return `[${text}]`;
      case 4:
        return `[${text},${text}]`;
      case 5:
        return text.replace('"params":', '"params":{"name":"echo"},"params":');
      case 6:
        return `${text} `;
      default:
        return text.slice(0, Math.max(0, text.length - how));
    }
  };

  /** Well-formed messages, so that the forwarding path is exercised as much as the refusals. */
  const wellFormed = fc
    .record({
      id: fc.integer({ min: 1, max: 1000 }),
      method: fc.constantFrom(...METHODS),
      name: fc.constantFrom(...TOOLS),
    })
    .map(({ id, method, name }) => JSON.stringify({ jsonrpc: '2.0', id, method, params: { name, arguments: {} } }));

  const body = fc.oneof(
    { weight: 3, arbitrary: wellFormed },
    {
      weight: 6,
      arbitrary: fc.tuple(message, fc.integer({ min: 0, max: 9 })).map(([m, how]) => mutate(JSON.stringify(m), how)),
    },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')) },
  );

  async function allowed(m: unknown): Promise<boolean> {
    const msg = classify(m as never, {});
    const input = buildInput('demo', msg, ANONYMOUS, {
      requestId: 'p',
      serverId: 'demo',
      httpMethod: 'POST',
      path: '/mcp',
      clientAddress: '127.0.0.1',
      userAgent: undefined,
      sessionId: undefined,
      transport: 'streamable-http',
      t0: 0,
      traceparent: undefined,
      nowMs: Date.now(),
    });
    const d = (await policy.evaluate(input)) as { allow?: unknown } | undefined;
    return d?.allow === true;
  }

  it('holds for arbitrary input', async () => {
    let forwarded = 0;
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const before = upstream.captured.length;
        const res = await fetch(sidecar.mcpUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: text,
        });
        await res.arrayBuffer();
        expect(res.status).toBeLessThan(500);
        for (const got of upstream.captured.slice(before)) {
          forwarded++;
          // Canonical re-serialization: what arrives is exactly JSON.stringify of what was judged.
          const parsed = JSON.parse(got.body);
          expect(got.body).toBe(JSON.stringify(parsed));
          for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
            expect(await allowed(m)).toBe(true);
          }
        }
      }),
      // A fixed seed: the same inputs on every run, so a failure reproduces (change it to explore).
      { numRuns: 400, seed: 20261124, interruptAfterTimeLimit: 60_000 },
    );
    // The generator must exercise the forwarding path, not only refusals.
    expect(forwarded).toBeGreaterThan(10);
  }, 90_000);
});
