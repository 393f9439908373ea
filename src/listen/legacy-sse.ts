/**
 * The legacy HTTP+SSE adapter (MCP 2024-11-05): `GET <legacySsePath>` opens
 * the session's stream, seen by the policy as `gateway:stream:listen`;
 * `POST <legacyMessagesPath>?sessionId=…` carries one message of that
 * session (batches are refused on this transport). The session id names
 * whose session it is; the decide stage checks that it is the caller's.
 * Never throws: a refusal of the whole request is the Intake's `failure`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SarkError } from '../errors.ts';
import type { HeaderLookup } from '../mcp/classify.ts';
import type { Intake } from './intake.ts';
import {
  type BodyOptions,
  classifyOne,
  httpPseudoMessage,
  pseudoIntakeMessage,
  readMessages,
  refusedIntake,
  requestMeta,
} from './streamable-http.ts';

export class LegacySseAdapter {
  readonly #o: BodyOptions;

  constructor(options: BodyOptions) {
    this.#o = options;
  }

  /** The SSE stream. */
  stream(req: IncomingMessage, res: ServerResponse, path: string, t0: number): Intake {
    req.resume();
    const headers = req.headersDistinct as HeaderLookup;
    const meta = requestMeta(req, this.#o.serverId, path, 'legacy-sse', undefined, t0);
    const msg = pseudoIntakeMessage('legacy:sse', httpPseudoMessage('gateway:stream:listen', headers, 'legacy-sse'));
    return {
      transport: 'legacy-sse',
      meta,
      headers,
      req,
      res,
      messages: [msg],
      batch: false,
      failure: undefined,
      label: 'legacy:sse',
    };
  }

  /** A message POSTed to a session. */
  async post(req: IncomingMessage, res: ServerResponse, path: string, query: string, t0: number): Promise<Intake> {
    const headers = req.headersDistinct as HeaderLookup;
    const sessionId = new URLSearchParams(query).get('sessionId') ?? undefined;
    const meta = requestMeta(req, this.#o.serverId, path, 'legacy-sse', sessionId, t0);
    if (sessionId === undefined) {
      req.resume();
      return refusedIntake(req, res, meta, 'legacy:post', new SarkError('SARK_SESSION_NOT_FOUND'));
    }
    try {
      const parsed = await readMessages(req, this.#o);
      if (Array.isArray(parsed))
        throw new SarkError('SARK_BATCH_REJECTED', { publicDetail: 'not on the legacy transport' });
      const m = classifyOne(parsed, headers, 'legacy-sse');
      return {
        transport: 'legacy-sse',
        meta,
        headers,
        req,
        res,
        messages: [m],
        batch: false,
        failure: undefined,
        label: 'legacy:post',
      };
    } catch (err) {
      const e =
        err instanceof SarkError ? err : new SarkError('SARK_INVALID_REQUEST', { detail: String(err), cause: err });
      return refusedIntake(req, res, meta, 'legacy:post', e);
    }
  }
}
