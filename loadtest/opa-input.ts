/**
 * The OPA-direct target asks OPA exactly what SARK asks it: the input is
 * captured from a SARK serving the workload's call.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Generator, generatorSpec } from './generator-client.ts';
import { type OpaParty, removeDir, startSarkParty } from './parties.ts';
import type { WorkloadPlan } from './workload.ts';

/**
 * The policy input SARK sends OPA for the workload's call, captured by a
 * recording proxy in front of OPA while a SARK with the decision cache off
 * serves a few calls: the OPA-direct target then asks OPA the same query.
 */
export async function captureOpaInput(upstreamUrl: string, opa: OpaParty, plan: WorkloadPlan): Promise<unknown> {
  let captured: unknown;
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const up = await fetch(`${opa.url}${req.url}`, {
        method: req.method!,
        headers: { 'content-type': 'application/json' },
        ...(req.method === 'POST' ? { body } : {}),
      });
      const text = await up.text();
      if (req.method === 'POST' && body.includes('"gateway:tool:invoke"')) {
        captured = (JSON.parse(body.toString('utf8')) as { input: unknown }).input;
      }
      res.writeHead(up.status, { 'content-type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const sark = await startSarkParty({
    variant: 'sark_miss',
    upstreamUrl,
    opaUrl: proxyUrl,
    ttlS: plan.ttlS,
    // The recording proxy is slow and the input does not depend on the deadline.
    extraFlags: ['--opa-timeout-ms', '5000'],
  });
  try {
    const gen = await Generator.start(generatorSpec(sark.url, 'mcp-v1', plan), plan.ttlS);
    await gen.run({ rate: 20, warmupS: 0, durationS: 0.25, watch: {} });
    await gen.stop();
  } finally {
    await sark.stop();
    removeDir(sark.dir);
    proxy.close();
  }
  if (captured === undefined) throw new Error('no tools/call policy input was captured');
  return captured;
}
