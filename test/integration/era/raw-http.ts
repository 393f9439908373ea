/**
 * Raw HTTP for the era attack cases: node:http rather than fetch, so a header
 * can really be repeated on the wire and its name sent in any case, and SSE
 * answers can be read event by event.
 */
import { type IncomingHttpHeaders, request } from 'node:http';

/** One header line per pair, in order: a repeated name is sent repeatedly. */
export type HeaderLines = readonly (readonly [string, string])[];

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The JSON body, or the last JSON-RPC message of an SSE body. */
  json: any;
  /** The JSON-RPC messages of an SSE body, in order. */
  events: any[];
}

export const BASE_HEADERS: HeaderLines = [
  ['content-type', 'application/json'],
  ['accept', 'application/json, text/event-stream'],
];

export function sseMessages(text: string): any[] {
  const out: any[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    if (data) out.push(JSON.parse(data));
  }
  return out;
}

function open(url: string, lines: HeaderLines, body: string, signal?: AbortSignal) {
  const req = request(url, { method: 'POST', signal });
  const grouped = new Map<string, { name: string; values: string[] }>();
  for (const [name, value] of lines) {
    const g = grouped.get(name.toLowerCase()) ?? { name, values: [] };
    g.values.push(value);
    grouped.set(name.toLowerCase(), g);
  }
  // An array value goes out as one header line per element (node:http).
  for (const { name, values } of grouped.values()) req.setHeader(name, values.length === 1 ? values[0]! : values);
  req.setHeader('content-length', Buffer.byteLength(body));
  req.end(body);
  return req;
}

/** POSTs `body` and reads the whole answer (deadline: `timeoutMs`). */
export function rawSend(url: string, lines: HeaderLines, body: string, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = open(url, lines, body, AbortSignal.timeout(timeoutMs));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const sse = /^text\/event-stream/.test(res.headers['content-type'] ?? '');
        let events: any[] = [];
        let json: any;
        try {
          events = sse ? sseMessages(text) : [];
          json = sse ? events.at(-1) : JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, events });
      });
    });
  });
}

/** A long-lived answer (a `subscriptions/listen` stream) read as it arrives. */
export interface OpenStream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The JSON-RPC messages received so far. */
  readonly messages: any[];
  /** Resolves with the first message (received or to come) matching `match`; rejects at the deadline. */
  next(match: (m: any) => boolean, timeoutMs?: number): Promise<any>;
  close(): void;
}

export function rawStream(url: string, lines: HeaderLines, body: string, timeoutMs = 10_000): Promise<OpenStream> {
  const controller = new AbortController();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const req = open(url, lines, body, controller.signal);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      const messages: any[] = [];
      const waiters = new Set<() => void>();
      let buffered = '';
      res.on('error', () => {});
      res.on('data', (c: Buffer) => {
        buffered += c.toString('utf8').replace(/\r\n/g, '\n');
        const cut = buffered.lastIndexOf('\n\n');
        if (cut === -1) return;
        const complete = buffered.slice(0, cut + 2);
        buffered = buffered.slice(cut + 2);
        const sse = /^text\/event-stream/.test(res.headers['content-type'] ?? '');
        try {
          messages.push(...(sse ? sseMessages(complete) : [JSON.parse(complete)]));
        } catch {}
        for (const w of waiters) w();
      });
      res.on('end', () => {
        if (buffered.trim()) {
          try {
            messages.push(
              ...(/^text\/event-stream/.test(res.headers['content-type'] ?? '')
                ? sseMessages(buffered)
                : [JSON.parse(buffered)]),
            );
          } catch {}
        }
        for (const w of waiters) w();
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        messages,
        next(match, waitMs = 5_000) {
          return new Promise((ok, fail) => {
            const check = () => {
              const found = messages.find(match);
              if (found === undefined) return false;
              cleanup();
              ok(found);
              return true;
            };
            const deadline = setTimeout(() => {
              cleanup();
              fail(new Error(`no matching message within ${waitMs} ms; got ${JSON.stringify(messages)}`));
            }, waitMs);
            const cleanup = () => {
              clearTimeout(deadline);
              waiters.delete(check);
            };
            if (!check()) waiters.add(check);
          });
        },
        close: () => controller.abort(),
      });
    });
  });
}
