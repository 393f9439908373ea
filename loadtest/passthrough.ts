/**
 * The floor of a Node MCP proxy (issue 19's baseline): node:http, one
 * JSON.parse per message, a cached decision (one Map lookup by API key,
 * method and tool), and an undici keep-alive forward. No policy engine, no
 * audit, no metrics: what any Node sidecar pays at least. Prints its URL.
 *
 *   node loadtest/passthrough.ts --upstream http://127.0.0.1:PORT/mcp --keys loadtest/fixtures/keys.json
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { boundLifetime } from './lifetime.ts';

const { values } = parseArgs({ options: { upstream: { type: 'string' }, keys: { type: 'string' } } });
const upstream = new URL(values.upstream!);
const pool = new Pool(upstream.origin, { connections: 64, keepAliveTimeout: 30_000 });

// The decisions a warm cache holds for the workload's calls; anything else is refused.
const decisions = new Map<string, boolean>();
for (const { key } of JSON.parse(readFileSync(values.keys!, 'utf8')) as { key: string }[]) {
  for (const call of ['initialize', 'notifications/initialized', 'server/discover', 'tools/call echo']) {
    decisions.set(`${key} ${call}`, true);
  }
}
const FORWARDED = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name'];
const DENY = '{"jsonrpc":"2.0","id":null,"error":{"code":-32002,"message":"denied"}}';

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    let msg: { method?: string; params?: { name?: string } };
    try {
      msg = JSON.parse(body.toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const call = msg.method === 'tools/call' ? `tools/call ${msg.params?.name}` : msg.method;
    if (decisions.get(`${req.headers['x-api-key']} ${call}`) !== true) {
      res.writeHead(403, { 'content-type': 'application/json', 'content-length': DENY.length }).end(DENY);
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of FORWARDED) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
    try {
      const up = await pool.request({ path: upstream.pathname, method: 'POST', headers, body });
      const out = Buffer.from(await up.body.arrayBuffer());
      const head: Record<string, string | number> = { 'content-length': out.length };
      for (const h of ['content-type', 'mcp-session-id'])
        if (typeof up.headers[h] === 'string') head[h] = up.headers[h];
      res.writeHead(up.statusCode, head).end(out);
    } catch {
      res.writeHead(502).end();
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}${upstream.pathname}\n`);
});
boundLifetime(() => {
  server.closeAllConnections();
  server.close(() => pool.close().finally(() => process.exit(0)));
});
