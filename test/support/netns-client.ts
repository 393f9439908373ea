/**
 * The client of the interception test, run inside the client network
 * namespace (`ip netns exec … node test/support/netns-client.ts <base URL>`):
 * waits until the pod answers, then makes the calls the test checks and
 * prints their results as one JSON object on stdout.
 */
const base = process.argv[2]!;
const deadline = Date.now() + 20_000;

async function until(what: string, check: () => Promise<boolean>) {
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready`);
}

async function get(path: string) {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
  return {
    status: res.status,
    sarkError: res.headers.get('x-sark-error'),
    podServer: res.headers.get('x-pod-server'),
    body: await res.text(),
  };
}

async function call(name: string, args: object) {
  const res = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: await res.json() };
}

function websocket(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}${path}`);
    const timer = setTimeout(() => reject(new Error('websocket timeout')), 5000);
    ws.onopen = () => ws.send('through SARK');
    ws.onmessage = (e) => {
      clearTimeout(timer);
      resolve(String(e.data));
      ws.close();
    };
    ws.onerror = () => reject(new Error('websocket failed'));
  });
}

await until('the pod (SARK and the server)', async () => (await get('/healthz')).podServer === 'yes');
const out = {
  allowed: await call('echo', { text: 'hello from the client namespace' }),
  denied: await call('delete_file', { path: '/etc/passwd' }),
  passthrough: await get('/healthz'),
  notAllowed: await get('/admin/secrets'),
  websocket: await websocket('/ws').catch((e: Error) => `error: ${e.message}`),
};
process.stdout.write(`${JSON.stringify(out)}\n`);
