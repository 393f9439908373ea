/**
 * What a transport adapter hands to the pipeline: one request, whatever the
 * transport, turned into the one message model. The adapters (Streamable
 * HTTP, legacy HTTP+SSE, and the entry points that only ask for decisions)
 * fill it in; the stages after `listen` never look at the transport's own
 * objects except through the port that answers it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SarkError } from '../errors.ts';
import type { HeaderLookup, McpMessage } from '../mcp/classify.ts';

export type Transport = 'streamable-http' | 'legacy-sse' | 'decision-api' | 'ext-authz';

/** Facts about the request every message of it shares (policy input `request`, audit fields). */
export interface RequestMeta {
  /** One id per request: every message of a batch and every decision it implies carry it. */
  readonly requestId: string;
  /** The protected MCP server the request is about (the policy's input.server.id). */
  readonly serverId: string;
  readonly httpMethod: string;
  readonly path: string;
  readonly clientAddress: string | undefined;
  readonly userAgent: string | undefined;
  /** The 2025 `mcp-session-id`, or the legacy transport's `sessionId`. */
  readonly sessionId: string | undefined;
  readonly transport: Transport;
  readonly nowMs: number;
  /** performance.now() at receipt. */
  readonly t0: number;
  readonly traceparent: string | undefined;
}

/** One message of the request, classified — or the reason it could not be. */
export interface IntakeMessage {
  /** The metric label: the known MCP method, `other`, `response`, or the HTTP action for bodiless requests. */
  readonly label: string;
  readonly msg: McpMessage | undefined;
  /** Why the message was refused before any decision (classification failed); its id for the answer. */
  readonly error: SarkError | undefined;
  readonly id: string | number | null;
  /** What the decide stage needs beyond the message model (an A2A request body, validated there). */
  readonly payload?: unknown;
}

export interface Intake {
  readonly transport: Transport;
  readonly meta: RequestMeta;
  readonly headers: HeaderLookup;
  /** The HTTP exchange, for the transports that answer over HTTP. */
  readonly req: IncomingMessage | undefined;
  readonly res: ServerResponse | undefined;
  /** The messages in the order received; one for a single message or a bodiless request. */
  readonly messages: readonly IntakeMessage[];
  /** Whether the body was a JSON-RPC batch (its answer is then an array). */
  readonly batch: boolean;
  /** A refusal of the whole request before classification (route, media type, size, parse, host). */
  readonly failure: SarkError | undefined;
  /** The label the whole request is counted under when it failed before classification. */
  readonly label: string;
  /**
   * The subject the request claims to ask about (an AuthZEN subject id): the
   * identity stage refuses it unless it is the authenticated caller.
   */
  readonly subject?: string | undefined;
  /**
   * The caller's identity as the proxy that asks reports it (ext_authz
   * `source.principal`); the identity stage believes it from a trusted proxy only.
   */
  readonly peerPrincipal?: string | undefined;
  /** Transport-specific context for the port that answers (e.g. an ext_authz callback). */
  readonly context?: unknown;
}
