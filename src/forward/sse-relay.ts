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

function serialize(e: EventSourceMessage, data: string): string {
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
  const decoder = new StringDecoder('utf8');
  // Parser callbacks only collect; the rewriting (possibly asynchronous) happens in order below.
  let pending: (string | EventSourceMessage)[] = [];
  let broken: string | undefined;
  const parser = createParser({
    maxBufferSize: maxEventBytes,
    onEvent: (e) => pending.push(e),
    onId: (id) => pending.push(`id: ${id}\n\n`),
    onRetry: (ms) => pending.push(`retry: ${ms}\n\n`),
    onComment: (c) => pending.push(`:${c}\n\n`),
    onError: (err) => {
      broken = err.message;
    },
  });
  for await (const chunk of body) {
    parser.feed(decoder.write(chunk as Buffer));
    if (broken !== undefined) return refuseStream(res, plan, broken);
    const events = pending;
    pending = [];
    let out = '';
    for (const e of events) {
      if (typeof e === 'string') {
        out += e;
        continue;
      }
      if (e.data.length === 0) {
        out += serialize(e, e.data);
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
      out += rewritten === message ? serialize(e, e.data) : serialize(e, JSON.stringify(rewritten));
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
