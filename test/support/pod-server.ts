/**
 * The application of an injected pod, for the passthrough and interception
 * tests: the demo MCP tools on POST /mcp (stateless, JSON answers), plus what
 * such a server also serves on the same port — a health path, a metrics path
 * and a WebSocket echo on /ws (RFC 6455, single unfragmented frames). Every
 * request is recorded with the peer address, in memory and, when `log` is
 * set, as NDJSON lines in that file (read by a test in another network
 * namespace).
 *
 * Run standalone: node test/support/pod-server.ts --host 0.0.0.0 --port 3000 --log /tmp/x.ndjson
 */
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { buildDemoMcpServer } from '../../src/demo/server.ts';

export interface PodRequest {
  event: 'mcp' | 'http' | 'ws';
  method: string;
  path: string;
  peer: string;
  headers: IncomingMessage['headers'];
  tool?: string;
}

export interface PodServer {
  readonly url: string;
  readonly port: number;
  readonly requests: PodRequest[];
  readonly executed: string[];
  close(): Promise<void>;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export async function startPodServer(options: { host?: string; port?: number; log?: string } = {}): Promise<PodServer> {
  const requests: PodRequest[] = [];
  const executed: string[] = [];
  const record = (r: PodRequest) => {
    requests.push(r);
    if (options.log) appendFileSync(options.log, `${JSON.stringify(r)}\n`);
  };
  const peerOf = (req: IncomingMessage) => req.socket.remoteAddress ?? '?';

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/mcp' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const before = executed.length;
        const transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: undefined,
          enableJsonResponse: true,
        });
        res.once('close', () => {
          const tool = executed.slice(before).join(',') || undefined;
          record({
            event: 'mcp',
            method: 'POST',
            path,
            peer: peerOf(req),
            headers: req.headers,
            ...(tool ? { tool } : {}),
          });
          transport.close().catch(() => {});
        });
        await buildDemoMcpServer(executed).connect(transport);
        await transport.handleRequest(req, res, body);
      });
      return;
    }
    req.resume();
    record({ event: 'http', method: req.method ?? '', path, peer: peerOf(req), headers: req.headers });
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-pod-server': 'yes' }).end('pod-server healthy\n');
    } else if (path.startsWith('/metrics/')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-pod-server': 'yes' }).end('app_up 1\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain', 'x-pod-server': 'yes' }).end('pod-server: no such path\n');
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const path = (req.url ?? '/').split('?')[0]!;
    record({ event: 'ws', method: req.method ?? '', path, peer: peerOf(req), headers: req.headers });
    const key = req.headers['sec-websocket-key'];
    if (path !== '/ws' || typeof key !== 'string') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const accept = createHash('sha1')
      .update(key + WS_GUID)
      .digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    echoFrames(socket);
  });

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    requests,
    executed,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Echoes each client text frame back as "echo: <text>"; answers a close frame and ends. */
function echoFrames(socket: Duplex): void {
  let buf = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2) {
      const opcode = buf[0]! & 0x0f;
      let len = buf[1]! & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        offset = 10;
      }
      const masked = (buf[1]! & 0x80) !== 0;
      const total = offset + (masked ? 4 : 0) + len;
      if (buf.length < total) return;
      const mask = masked ? buf.subarray(offset, offset + 4) : undefined;
      const payload = Buffer.from(buf.subarray(total - len, total));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
      buf = buf.subarray(total);
      if (opcode === 0x8) {
        socket.end(Buffer.from([0x88, 0x00]));
        return;
      }
      if (opcode === 0x1) {
        const out = Buffer.from(`echo: ${payload.toString('utf8')}`);
        const header =
          out.length < 126
            ? Buffer.from([0x81, out.length])
            : Buffer.from([0x81, 126, out.length >> 8, out.length & 0xff]);
        socket.write(Buffer.concat([header, out]));
      }
    }
  });
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({
    options: { host: { type: 'string' }, port: { type: 'string' }, log: { type: 'string' } },
  });
  startPodServer({ host: values.host ?? '0.0.0.0', port: Number(values.port ?? 3000), log: values.log }).then((s) => {
    process.stdout.write(`pod-server listening on ${s.port}\n`);
    process.on('SIGTERM', () => s.close().then(() => process.exit(0)));
  });
}
