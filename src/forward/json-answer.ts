/**
 * Reading upstream answers (readUpTo: a small unchanged answer is read whole
 * so that it leaves in one write) and JSON answers SARK must read to
 * rewrite: read up to a cap (past it the
 * answer is refused, never held without bound), parsed, each message of a
 * single or batch answer passed through the plan, SARK's own answers to a
 * batch's refused elements merged in. A body that does not parse cannot be
 * filtered: it is refused, not passed through.
 */
import type { Readable } from 'node:stream';
import { SarkError } from '../errors.ts';
import type { AnswerPlan } from './answer-plan.ts';

export interface BodyHead {
  readonly chunks: Buffer[];
  readonly size: number;
  /** The body ended within the limit; otherwise it is paused after `chunks`, for a pipeline to take on. */
  readonly ended: boolean;
}

/** Reads a body until it ends or passes `limit` bytes; past it the stream is left paused where it stopped. */
export function readUpTo(body: NodeJS.ReadableStream, limit: number): Promise<BodyHead> {
  const stream = body as Readable;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        stream.pause();
        cleanup();
        resolve({ chunks, size, ended: false });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ chunks, size, ended: true });
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}

export function joined(head: BodyHead): Buffer {
  return head.chunks.length === 1 ? head.chunks[0]! : Buffer.concat(head.chunks, head.size);
}

/** The whole body, or SARK_UPSTREAM_RESPONSE_TOO_LARGE past `maxBytes` (the rest is not read). */
export async function readCapped(body: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer> {
  let head: BodyHead;
  try {
    head = await readUpTo(body, maxBytes);
  } catch (err) {
    throw new SarkError('SARK_UPSTREAM_UNAVAILABLE', { detail: (err as Error).message, cause: err });
  }
  if (!head.ended) {
    (body as Readable).destroy();
    throw new SarkError('SARK_UPSTREAM_RESPONSE_TOO_LARGE', {
      detail: `the answer exceeds upstreamMaxBufferedBytes (${maxBytes} bytes)`,
    });
  }
  return joined(head);
}

/** The client's answer: the upstream's messages through the plan, then SARK's own (a batch's refused elements). */
export async function rewriteJsonAnswer(body: Buffer, plan: AnswerPlan, injected: readonly unknown[]): Promise<string> {
  let parsed: unknown;
  if (body.length > 0) {
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new SarkError('SARK_RESPONSE_UNFILTERABLE', {
        detail: `the JSON answer does not parse: ${(err as Error).message}`,
      });
    }
  }
  if (injected.length === 0 && !Array.isArray(parsed)) {
    const r = await plan.rewrite(parsed);
    return r === parsed ? body.toString('utf8') : JSON.stringify(r ?? null);
  }
  const answers = parsed === undefined ? [] : Array.isArray(parsed) ? parsed : [parsed];
  const out: unknown[] = [];
  for (const m of answers) {
    const r = await plan.rewrite(m);
    if (r !== undefined) out.push(r);
  }
  for (const m of injected) out.push(m);
  return JSON.stringify(out);
}
