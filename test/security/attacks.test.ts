/**
 * Attack cases against the enforcement path, with real OPA deciding and the
 * official MCP SDK server behind SARK recording every message it receives.
 * Each case asserts the client got a clear error and that the upstream never
 * received the call (nothing at all, for cases refused before the policy).
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../../src/demo/server.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { type Service, startOpa } from '../support/services.ts';
import { startTestSidecar } from '../support/sidecar.ts';

interface Answer {
  status: number;
  json: any;
  text: string;
}

interface Attack {
  name: string;
  /** Raw body (string or bytes) POSTed to the endpoint unless `send` is given. */
  body?: string | Buffer;
  headers?: Record<string, string>;
  path?: string;
  send?: (url: URL) => Promise<Answer>;
  status: number;
  /** JSON-RPC error code, or null when the answer is not a JSON-RPC error. */
  code: number | null;
}

const call = (name: string, args: Record<string, unknown> = {}, id: unknown = 1) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

function post(url: URL, body: string | Buffer, headers: Record<string, string> = {}, path?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: path ?? url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'content-length': String(Buffer.byteLength(body)),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends raw bytes on a socket and reads until the server closes or answers. */
function rawHttp(url: URL, bytes: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sock = connect(Number(url.port), url.hostname);
    let data = '';
    sock.on('data', (d) => {
      data += d.toString();
    });
    sock.on('error', reject);
    sock.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      const text = data.slice(data.indexOf('\r\n\r\n') + 4);
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {}
      resolve({ status, json, text });
    });
    sock.setTimeout(5000, () => sock.destroy());
    sock.end(bytes);
  });
}

const deep = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

const attacks: Attack[] = [
  // --- duplicate keys and prototype pollution: one parse decides -------------------------
  {
    name: 'duplicate tool name key (echo then delete_file)',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_file","arguments":{}}}',
    status: 400,
    code: -32600,
  },
  {
    name: 'duplicate method key',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"delete_file"}}',
    status: 400,
    code: -32600,
  },
  {
    name: 'duplicate params key',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"},"params":{"name":"delete_file"}}',
    status: 400,
    code: -32600,
  },
  {
    name: 'duplicate key hidden by a \\u escape',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","n\\u0061me":"delete_file"}}',
    status: 400,
    code: -32600,
  },
  {
    name: 'duplicate key deep in the arguments',
    body: call('echo', {}).replace('"arguments":{}', '"arguments":{"o":{"path":"/tmp","path":"/etc/shadow"}}'),
    status: 400,
    code: -32600,
  },
  {
    name: '__proto__ in params',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"__proto__":{"name":"delete_file"},"name":"echo"}}',
    status: 400,
    code: -32600,
  },
  {
    name: 'constructor.prototype in arguments',
    body: call('echo', {}).replace('{}', '{"constructor":{"prototype":{"admin":true}}}'),
    status: 400,
    code: -32600,
  },
  {
    name: '__proto__ spelled with an escape',
    body: call('echo', {}).replace('{}', '{"\\u005f_proto__":{"x":1}}'),
    status: 400,
    code: -32600,
  },
  // --- encoding ---------------------------------------------------------------------------
  {
    name: 'invalid UTF-8 in a string',
    body: Buffer.concat([
      Buffer.from(call('echo', { text: 'X' }).split('X')[0]!),
      Buffer.from([0xc3, 0x28]),
      Buffer.from(call('echo', { text: 'X' }).split('X')[1]!),
    ]),
    status: 400,
    code: -32700,
  },
  {
    name: 'overlong UTF-8 encoding of "/"',
    body: Buffer.concat([
      Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"'),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from('"}}}'),
    ]),
    status: 400,
    code: -32700,
  },
  {
    name: 'lone surrogate escape',
    body: call('echo', { text: 'X' }).replace('X', '\\ud800'),
    status: 400,
    code: -32700,
  },
  {
    name: 'UTF-8 BOM before the body',
    body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(call('echo', { text: 'a' }))]),
    status: 400,
    code: -32700,
  },
  { name: 'UTF-16 body', body: Buffer.from(call('delete_file', { path: '/x' }), 'utf16le'), status: 400, code: -32700 },
  // --- limits ----------------------------------------------------------------------------
  { name: 'nesting deeper than the limit', body: call('echo', {}).replace('{}', deep(100)), status: 400, code: -32600 },
  {
    name: 'array longer than the limit',
    body: call('echo', {}).replace('{}', `{"a":[${'1,'.repeat(10_000)}1]}`),
    status: 400,
    code: -32600,
  },
  {
    name: 'object with more keys than the limit',
    body: call('echo', {}).replace('{}', `{${Array.from({ length: 1001 }, (_, i) => `"k${i}":1`).join(',')}}`),
    status: 400,
    code: -32600,
  },
  { name: 'body over 1 MiB', body: call('echo', { text: 'x'.repeat(1024 * 1024) }), status: 413, code: -32600 },
  {
    name: 'gzip bomb (10 MiB of spaces in 10 KiB)',
    body: gzipSync(Buffer.concat([Buffer.from(call('echo', { text: 'a' })), Buffer.alloc(10 * 1024 * 1024, 0x20)])),
    headers: { 'content-encoding': 'gzip' },
    status: 413,
    code: -32600,
  },
  // --- syntax that other parsers accept -----------------------------------------------------
  {
    name: 'trailing comma',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file",}}',
    status: 400,
    code: -32700,
  },
  {
    name: 'comment inside the body',
    body: '{"jsonrpc":"2.0","id":1,/* x */"method":"tools/call","params":{"name":"delete_file"}}',
    status: 400,
    code: -32700,
  },
  {
    name: 'single-quoted strings',
    body: "{'jsonrpc':'2.0','id':1,'method':'tools/call','params':{'name':'delete_file'}}",
    status: 400,
    code: -32700,
  },
  {
    name: 'two JSON documents in one body',
    body: `${call('echo', { text: 'a' })}${call('delete_file', { path: '/x' }, 2)}`,
    status: 400,
    code: -32700,
  },
  {
    name: 'NaN as an id',
    body: '{"jsonrpc":"2.0","id":NaN,"method":"tools/call","params":{"name":"delete_file"}}',
    status: 400,
    code: -32700,
  },
  // --- JSON-RPC shape -----------------------------------------------------------------------
  {
    name: 'missing jsonrpc member',
    body: '{"id":1,"method":"tools/call","params":{"name":"delete_file"}}',
    status: 400,
    code: -32600,
  },
  {
    name: 'object as id',
    body: '{"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"delete_file"}}',
    status: 400,
    code: -32600,
  },
  {
    name: 'request carrying a result too',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file"},"result":{}}',
    status: 400,
    code: -32600,
  },
  {
    name: 'params as an array',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["delete_file"]}',
    status: 400,
    code: -32600,
  },
  // --- method and name tricks reach only the policy's default --------------------------------
  {
    name: 'method with a trailing space',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call ","params":{"name":"delete_file"}}',
    status: 200,
    code: -32002,
  },
  {
    name: 'method in upper case',
    body: '{"jsonrpc":"2.0","id":1,"method":"TOOLS/CALL","params":{"name":"delete_file"}}',
    status: 200,
    code: -32002,
  },
  { name: 'tool name in another case', body: call('Delete_File', { path: '/x' }), status: 200, code: -32002 },
  {
    name: 'tool name with a zero-width space',
    body: call('delete\u200b_file', { path: '/x' }),
    status: 200,
    code: -32002,
  },
  {
    name: 'tool name with fullwidth letters',
    body: call('ｄｅｌｅｔｅ_file', { path: '/x' }),
    status: 200,
    code: -32002,
  },
  { name: 'tool name with a trailing NUL', body: call('echo\u0000', { text: 'a' }), status: 200, code: -32002 },
  { name: 'denied tool, plain', body: call('delete_file', { path: '/etc/passwd' }), status: 200, code: -32002 },
  {
    name: 'denied tool in a batch beside an allowed one',
    body: `[${call('echo', { text: 'a' })},${call('delete_file', { path: '/x' }, 2)}]`,
    status: 200,
    code: null,
  },
  { name: 'batch nested in a batch', body: `[[${call('delete_file', { path: '/x' })}]]`, status: 400, code: -32600 },
  // --- transport ---------------------------------------------------------------------------
  {
    name: 'text/plain content type',
    body: call('delete_file'),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: -32600,
  },
  {
    name: 'form content type',
    body: call('delete_file'),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: -32600,
  },
  {
    name: 'unknown content encoding',
    body: call('delete_file'),
    headers: { 'content-encoding': 'compress' },
    status: 415,
    code: -32600,
  },
  {
    name: 'stacked content encodings',
    body: gzipSync(gzipSync(call('delete_file'))),
    headers: { 'content-encoding': 'gzip, gzip' },
    status: 415,
    code: -32600,
  },
  {
    name: 'Content-Length and Transfer-Encoding together (smuggling)',
    send: (url) => {
      const body = call('delete_file', { path: '/x' });
      return rawHttp(
        url,
        `POST ${url.pathname} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      );
    },
    status: 400,
    code: -32600,
  },
  {
    name: 'two different Content-Length headers',
    send: (url) => {
      const body = call('delete_file', { path: '/x' });
      return rawHttp(
        url,
        `POST ${url.pathname} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nContent-Length: 5\r\n\r\n${body}`,
      );
    },
    status: 400,
    code: -32600,
  },
  // --- path variants of the endpoint ----------------------------------------------------------
  ...['/MCP', '/mcp/', '//mcp', '/./mcp', '/x/../mcp', '/%6dcp', '/mcp;jsessionid=1', '/mcp%2F'].map(
    (path): Attack => ({
      name: `path variant ${path}`,
      body: call('delete_file', { path: '/x' }),
      path,
      status: 404,
      code: -32600,
    }),
  ),
  // --- identity and protocol version ----------------------------------------------------------
  {
    name: 'unknown bearer token',
    body: call('delete_file'),
    headers: { authorization: 'Bearer not-a-key' },
    status: 401,
    code: -32001,
  },
  { name: 'unknown API key', body: call('delete_file'), headers: { 'x-api-key': 'guess' }, status: 401, code: -32001 },
  {
    name: 'basic auth instead of bearer',
    body: call('delete_file'),
    headers: { authorization: 'Basic YWRtaW46YWRtaW4=' },
    status: 401,
    code: -32001,
  },
  {
    name: 'future protocol version header',
    body: call('delete_file'),
    headers: { 'mcp-protocol-version': '2099-12-31' },
    status: 400,
    code: -32022,
  },
  {
    name: 'initialize with an unknown protocol version',
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '1999-01-01', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    }),
    status: 400,
    code: -32022,
  },
];

describe('security: attacks on the enforcement path', () => {
  let opa: Service;
  let upstream: DemoServer;
  let sidecar: Sidecar;
  let url: URL;

  beforeAll(async () => {
    [opa, upstream] = await Promise.all([startOpa(), startDemoServer({ jsonResponse: true })]);
    sidecar = await startTestSidecar([
      '--opa-url',
      opa.url,
      '--upstream-url',
      upstream.url,
      '--opa-timeout-ms',
      '1000',
    ]);
    url = new URL(sidecar.mcpUrl);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
    await opa?.stop();
  });

  it('covers at least 40 distinct attacks', () => {
    expect(new Set(attacks.map((a) => a.name)).size).toBe(attacks.length);
    expect(attacks.length).toBeGreaterThanOrEqual(40);
  });

  for (const attack of attacks) {
    it(attack.name, async () => {
      const before = upstream.received.length;
      const executedBefore = upstream.executed.length;
      const answer = attack.send ? await attack.send(url) : await post(url, attack.body!, attack.headers, attack.path);
      expect(answer.status).toBe(attack.status);
      if (attack.code !== null) {
        expect(answer.json?.jsonrpc).toBe('2.0');
        expect(answer.json?.error?.code).toBe(attack.code);
        expect(typeof answer.json?.error?.message).toBe('string');
      }
      const got = upstream.received.slice(before) as { method?: string; params?: { name?: string } }[];
      // The denied call never reaches the server, whatever the attack.
      expect(got.filter((m) => m.params?.name !== 'echo')).toEqual([]);
      expect(upstream.executed.slice(executedBefore).filter((t) => t !== 'echo')).toEqual([]);
      if (attack.code !== null) expect(got).toEqual([]);
    });
  }

  it('a batch is answered per element: the allowed one runs, the denied one gets its error', async () => {
    const before = upstream.executed.length;
    const answer = await post(url, `[${call('echo', { text: 'a' }, 1)},${call('delete_file', { path: '/x' }, 2)}]`);
    expect(answer.status).toBe(200);
    const byId = new Map((answer.json as any[]).map((m) => [m.id, m]));
    expect(byId.get(1).result.content[0].text).toBe('a');
    expect(byId.get(2).error.code).toBe(-32002);
    expect(upstream.executed.slice(before)).toEqual(['echo']);
  });
});
