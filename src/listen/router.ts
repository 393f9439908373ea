/**
 * The data listener's router: the exact MCP path (and the legacy transport's
 * two paths when configured) to its adapter, then the adapter's Intake into
 * the pipeline. Everything else is a 404 — case, slash, dot-segment, encoded
 * and matrix variants of the endpoint included — and the query string is
 * never forwarded. The Host and Origin checks (host-guard.ts) run first, on
 * every path. Every answer, 404s included, goes through the pipeline, so it
 * is counted (and, once a message is known, audited) like any other.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { SarkError } from '../errors.ts';
import type { HeaderLookup } from '../mcp/classify.ts';
import type { HostGuard } from './host-guard.ts';
import type { Intake } from './intake.ts';
import type { LegacySseAdapter } from './legacy-sse.ts';
import type { Passthrough } from './passthrough.ts';
import {
  httpLabel,
  httpPseudoMessage,
  pseudoIntakeMessage,
  refusedIntake,
  requestMeta,
  type StreamableHttpAdapter,
} from './streamable-http.ts';

/** Where an Intake goes next: the pipeline's stages. */
export type Flow = (intake: Intake) => Promise<unknown>;

/** A route served beside the MCP endpoint without the pipeline (e.g. OAuth Protected Resource Metadata). */
export interface ExtraRoute {
  servesPath(path: string): boolean;
  serve(req: IncomingMessage, res: ServerResponse): void;
}

export interface RouterOptions {
  readonly serverId: string;
  readonly mcpPath: string;
  readonly legacySsePath: string;
  readonly legacyMessagesPath: string;
  readonly guard: HostGuard;
  readonly streamable: StreamableHttpAdapter;
  readonly legacy: LegacySseAdapter | undefined;
  readonly flow: Flow;
  readonly extra?: readonly ExtraRoute[];
  /** Allow-listed non-MCP paths (probes, health, WebSockets) passed to the server unchanged. */
  readonly passthrough?: Passthrough | undefined;
}

export class Router {
  readonly #o: RouterOptions;

  constructor(options: RouterOptions) {
    this.#o = options;
    this.handle = this.handle.bind(this);
    this.upgrade = this.upgrade.bind(this);
  }

  /** The data listener's 'upgrade' handler: WebSockets to passthrough paths, after the Host and Origin checks. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refused = this.#o.guard.check(req.headersDistinct as HeaderLookup);
    if (refused || !this.#o.passthrough) {
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nx-sark-error: ${refused?.code ?? 'SARK_NOT_FOUND'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      );
      return;
    }
    this.#o.passthrough.upgrade(req, socket, head);
  }

  /** The data listener's request handler; never rejects. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    void this.#serve(req, res);
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const intake = await this.#route(req, res);
      if (intake !== undefined) await this.#o.flow(intake);
    } catch {
      // Adapters and the pipeline never reject; this is a last line of defence.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json', connection: 'close' });
      res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}}');
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<Intake | undefined> {
    const t0 = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const o = this.#o;
    const refused = o.guard.check(req.headersDistinct as HeaderLookup);
    if (refused) {
      req.resume();
      // Audited: a rebinding attempt is a security event, recorded under the HTTP action it tried.
      const label = httpLabel(req.method);
      const meta = requestMeta(req, o.serverId, path, 'streamable-http', undefined, t0);
      const pseudo = pseudoIntakeMessage(
        label,
        httpPseudoMessage(
          `gateway:http:${(req.method ?? 'other').toLowerCase()}`,
          req.headersDistinct as HeaderLookup,
          undefined,
        ),
      );
      return refusedIntake(req, res, meta, label, refused, [pseudo]);
    }
    if (path === o.mcpPath) return o.streamable.intake(req, res, path, t0);
    if (o.extra) {
      for (const route of o.extra) {
        if (route.servesPath(path)) {
          route.serve(req, res);
          return undefined;
        }
      }
    }
    if (o.legacy) {
      if (path === o.legacySsePath && req.method === 'GET') return o.legacy.stream(req, res, path, t0);
      if (path === o.legacyMessagesPath && req.method === 'POST') {
        return o.legacy.post(req, res, path, q === -1 ? '' : url.slice(q + 1), t0);
      }
    }
    if (o.passthrough?.matches(path)) {
      await o.passthrough.handle(req, res).catch((err) => answerPlain(res, err));
      return undefined;
    }
    req.resume();
    const meta = requestMeta(req, o.serverId, path, 'streamable-http', undefined, t0);
    return refusedIntake(req, res, meta, 'http:other', new SarkError('SARK_NOT_FOUND'));
  }
}

/** A passthrough request the server could not answer (502/504): not MCP, so a plain JSON-RPC error. */
function answerPlain(res: ServerResponse, err: unknown): void {
  const e = err instanceof SarkError ? err : new SarkError('SARK_UPSTREAM_UNAVAILABLE', { cause: err });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: e.kind.rpcCode, message: e.safeMessage } });
  res.writeHead(e.kind.httpStatus, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-sark-error': e.code,
  });
  res.end(body);
}
