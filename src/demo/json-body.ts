/**
 * The MCP SDKs' Node transports take a parsed body: this reads a request's
 * JSON and hands it on, or answers the JSON-RPC parse error itself. One
 * reader for every SDK server this repository runs: the demo, the test
 * servers (test/support) and the load-test upstream (loadtest/).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const PARSE_ERROR = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });

export function withJsonBody(
  req: IncomingMessage,
  res: ServerResponse,
  then: (body: unknown) => void,
  onBadJson?: () => void,
): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      onBadJson?.();
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(PARSE_ERROR);
      return;
    }
    then(body);
  });
}
