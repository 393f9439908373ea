/**
 * The one mapping from a refusal to what the client gets: HTTP status,
 * headers and JSON-RPC error body. Policy refusals of a request are HTTP 200
 * with a JSON-RPC error (MCP clients surface them as the call's error and
 * the session goes on); what is not a request — a notification, a stream, a
 * session end — has no call to fail and gets 403 instead.
 */
import type { ServerResponse } from 'node:http';
import type { SarkError } from '../errors.ts';
import type { IdentityStage } from '../identity/stage.ts';
import { errorResponse, type JsonRpcId } from '../mcp/jsonrpc.ts';
import type { Call, Exchange } from './exchange.ts';

/** The JSON-RPC error's data: the policy's reasons for a policy deny, SARK's reason otherwise. */
export function refusalData(x: Exchange, call: Call | undefined, err: SarkError): Record<string, unknown> {
  const v = call?.verdict;
  const reasons =
    (err.code === 'SARK_POLICY_DENIED' || err.code === 'SARK_INSUFFICIENT_SCOPE') &&
    v !== undefined &&
    v.refusal === err &&
    !v.decision.allow
      ? v.decision.reasons
      : [{ code: err.kind.reason }];
  const data: Record<string, unknown> = { reasons, request_id: x.intake.meta.requestId };
  if (err.data) for (const k in err.data) if (k !== 'reason') data[k] = err.data[k];
  return data;
}

/** A JSON-RPC error object for a batch answer or a legacy stream. */
export function errorObject(x: Exchange, call: Call, err: SarkError): unknown {
  return JSON.parse(errorResponse(call.id, err.kind.rpcCode, err.safeMessage, refusalData(x, call, err)));
}

export function httpStatusOf(err: SarkError, isRequest: boolean): number {
  return !isRequest && err.kind.httpStatus === 200 ? 403 : err.kind.httpStatus;
}

/**
 * Writes refusals. The identity stage contributes the `WWW-Authenticate`
 * challenge: 401 for credentials, and the step-up 403 naming every scope the
 * policy requires (MCP authorization, "Scope Challenge Handling").
 */
export class Answerer {
  readonly #identity: Pick<IdentityStage, 'challenge'> | undefined;

  constructor(identity?: Pick<IdentityStage, 'challenge'>) {
    this.#identity = identity;
  }

  refuse(res: ServerResponse, x: Exchange, call: Call | undefined, err: SarkError, isRequest: boolean): void {
    const c = this.challenge(err);
    sendRefusal(res, x, call, err, isRequest, c ? { 'www-authenticate': c } : undefined);
  }

  /** The WWW-Authenticate value for a refusal about credentials or scopes, or undefined. */
  challenge(err: SarkError): string | undefined {
    const scopes = err.data?.required_scopes;
    return this.#identity?.challenge(err, Array.isArray(scopes) ? (scopes as string[]) : undefined)?.wwwAuthenticate;
  }
}

/** Writes the refusal, or cuts the connection when an answer had already begun. */
export function sendRefusal(
  res: ServerResponse,
  x: Exchange,
  call: Call | undefined,
  err: SarkError,
  isRequest: boolean,
  headers: Readonly<Record<string, string>> | undefined,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = httpStatusOf(err, isRequest);
  const id: JsonRpcId | null = call?.id ?? null;
  const body = errorResponse(id, err.kind.rpcCode, err.safeMessage, refusalData(x, call, err));
  const out: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-sark-error': err.code,
  };
  if (headers) for (const k in headers) out[k] = headers[k]!;
  const retry = call?.verdict?.retryAfterSeconds;
  if (retry !== undefined) out['retry-after'] = String(retry);
  switch (err.code) {
    case 'SARK_BODY_TOO_LARGE':
      // The rest of the body was not read: the connection cannot carry another request.
      out.connection = 'close';
      break;
    case 'SARK_UNAUTHENTICATED':
      if (out['www-authenticate'] === undefined) out['www-authenticate'] = 'Bearer realm="sark"';
      break;
    case 'SARK_METHOD_NOT_ALLOWED':
      out.allow = 'GET, POST, DELETE';
      break;
  }
  res.writeHead(status, out);
  res.end(body);
}
