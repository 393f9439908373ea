/**
 * Relays an event stream whose messages the plan may rewrite or drop.
 * Framing is eventsource-parser's (WHATWG "Server-sent events"); every
 * event is re-serialized: `id` fields as events of their own, so that an
 * id-only event (a 2025-11-25 server's resumption priming event) keeps its
 * effect on the client's last event id; comments (keep-alives) and `retry`
 * pass as they came. A data field that is not JSON cannot be judged: the
 * stream is refused — the requests it would have answered get SARK's
 * JSON-RPC error and the stream ends — never passed through.
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ErrorKinds } from '../errors.ts';
import { errorResponse } from '../mcp/jsonrpc.ts';
import type { AnswerPlan } from './answer-plan.ts';

/** One SSE event carrying a JSON-RPC message, as the MCP SDKs frame them. */
export function sseMessage(message: unknown): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

/**
 * Cuts a byte stream into SSE events: `feed` each chunk, then `take` what it
 * completed — events with data, and as ready-made text the `id`, `retry` and
 * comment lines (keep-alives). `broken` says why the stream cannot be read
 * (an event over `maxEventBytes`).
 */
export class SseEvents {
  readonly #decoder = new StringDecoder('utf8');
  readonly #parser;
  #pending: (string | EventSourceMessage)[] = [];
  broken: string | undefined;

  constructor(maxEventBytes: number) {
    this.#parser = createParser({
      maxBufferSize: maxEventBytes,
      onEvent: (e) => this.#pending.push(e),
      onId: (id) => this.#pending.push(`id: ${id}\n\n`),
      onRetry: (ms) => this.#pending.push(`retry: ${ms}\n\n`),
      onComment: (c) => this.#pending.push(`:${c}\n\n`),
      onError: (err) => {
        this.broken = err.message;
      },
    });
  }

  feed(chunk: Buffer): void {
    this.#parser.feed(this.#decoder.write(chunk));
  }

  take(): (string | EventSourceMessage)[] {
    const out = this.#pending;
    this.#pending = [];
    return out;
  }
}

/** An event re-serialized with new data (its `id` went out on its own before it). */
export function serializeEvent(e: EventSourceMessage, data: string): string {
  let out = e.event !== undefined ? `event: ${e.event}\n` : '';
  for (const line of data.split('\n')) out += `data: ${line}\n`;
  return `${out}\n`;
}

export async function relayRewritten(
  body: Readable,
  res: ServerResponse,
  plan: AnswerPlan,
  injected: readonly unknown[],
  maxEventBytes: number,
): Promise<void> {
  for (const m of injected) res.write(sseMessage(m));
  // The parser only collects; the rewriting (possibly asynchronous) happens in order below.
  const sse = new SseEvents(maxEventBytes);
  for await (const chunk of body) {
    sse.feed(chunk as Buffer);
    if (sse.broken !== undefined) return refuseStream(res, plan, sse.broken);
    let out = '';
    for (const e of sse.take()) {
      if (typeof e === 'string') {
        out += e;
        continue;
      }
      if (e.data.length === 0) {
        out += serializeEvent(e, e.data);
        continue;
      }
      let message: unknown;
      try {
        message = JSON.parse(e.data);
      } catch {
        if (out) res.write(out);
        return refuseStream(res, plan, 'an event of the stream is not JSON');
      }
      let rewritten = plan.rewrite(message);
      if (rewritten instanceof Promise) rewritten = await rewritten;
      if (rewritten === undefined) continue;
      out += rewritten === message ? serializeEvent(e, e.data) : serializeEvent(e, JSON.stringify(rewritten));
    }
    if (out && !res.write(out)) await drained(res);
  }
  res.end();
}

/** Resolves when the client can take more, or has gone (the upstream read then fails and ends the relay). */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

function refuseStream(res: ServerResponse, plan: AnswerPlan, why: string): void {
  const k = ErrorKinds.SARK_RESPONSE_UNFILTERABLE;
  for (const id of plan.pendingIds) {
    res.write(
      `event: message\ndata: ${errorResponse(id, k.rpcCode, k.message, { reasons: [{ code: k.reason }], detail: why })}\n\n`,
    );
  }
  res.end();
}
