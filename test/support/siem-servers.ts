/**
 * Loopback stand-ins for the two SIEM intakes the audit forwarders talk to,
 * implementing what the forwarders rely on:
 *  - Splunk HEC: POST /services/collector/event, `Authorization: Splunk <token>`,
 *    a body of concatenated JSON event objects; 200 {"text":"Success","code":0},
 *    401 {"text":"Invalid token","code":4}, 503 {"text":"Server is busy","code":9}.
 *  - Datadog logs intake v2: POST /api/v2/logs, `DD-API-KEY`, a JSON array;
 *    202 {}, 403 on a wrong key.
 * `failWith(status)` makes every request fail until `recover()`; `received`
 * holds every accepted event (the Splunk `event` / the parsed Datadog message).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface SiemServer {
  readonly url: string;
  readonly received: Record<string, unknown>[];
  /** Raw accepted entries (Splunk envelopes or Datadog log objects). */
  readonly entries: Record<string, unknown>[];
  requests: number;
  failWith(status: number): void;
  recover(): void;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, value: unknown) {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Splits HEC's concatenated JSON objects ("{..}{..}" or newline separated). */
function splitConcatenated(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth++ === 0) start = i;
    } else if (ch === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
  }
  if (depth !== 0) throw new Error('unbalanced JSON');
  return out;
}

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, state: SiemState) => Promise<void>,
): Promise<SiemServer> {
  const state: SiemState = { failing: undefined, received: [], entries: [], requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    handler(req, res, state).catch((err) => json(res, 500, { text: String(err) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    received: state.received,
    entries: state.entries,
    get requests() {
      return state.requests;
    },
    set requests(v: number) {
      state.requests = v;
    },
    failWith(status) {
      state.failing = status;
    },
    recover() {
      state.failing = undefined;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

interface SiemState {
  failing: number | undefined;
  received: Record<string, unknown>[];
  entries: Record<string, unknown>[];
  requests: number;
}

export function startSplunkHec(token: string): Promise<SiemServer> {
  return serve(async (req, res, state) => {
    const text = await body(req);
    if (req.method !== 'POST' || req.url !== '/services/collector/event')
      return json(res, 404, { text: 'Not found', code: 404 });
    if (req.headers.authorization !== `Splunk ${token}`) return json(res, 401, { text: 'Invalid token', code: 4 });
    if (state.failing !== undefined) return json(res, state.failing, { text: 'Server is busy', code: 9 });
    let events: Record<string, unknown>[];
    try {
      events = splitConcatenated(text);
    } catch {
      return json(res, 400, { text: 'Invalid data format', code: 6 });
    }
    for (const e of events) {
      if (e.event === undefined) return json(res, 400, { text: 'Event field is required', code: 12 });
    }
    for (const e of events) {
      state.entries.push(e);
      state.received.push(e.event as Record<string, unknown>);
    }
    json(res, 200, { text: 'Success', code: 0 });
  });
}

export function startDatadogIntake(apiKey: string): Promise<SiemServer> {
  return serve(async (req, res, state) => {
    const text = await body(req);
    if (req.method !== 'POST' || req.url !== '/api/v2/logs') return json(res, 404, { errors: ['not found'] });
    if (req.headers['dd-api-key'] !== apiKey) return json(res, 403, { errors: ['Forbidden'] });
    if (state.failing !== undefined) return json(res, state.failing, { errors: ['unavailable'] });
    const logs = JSON.parse(text) as Record<string, unknown>[];
    if (!Array.isArray(logs) || logs.length > 1000) return json(res, 400, { errors: ['bad payload'] });
    for (const log of logs) {
      state.entries.push(log);
      state.received.push(JSON.parse(String(log.message)) as Record<string, unknown>);
    }
    json(res, 202, {});
  });
}
