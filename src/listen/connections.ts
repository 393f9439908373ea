/**
 * The listeners' defences against clients that hold connections without
 * finishing a request (slowloris, slow POST) and against too many connections:
 *
 * - Headers deadline and whole-request deadline: Node's own `headersTimeout`
 *   and `requestTimeout`. Node starts their clock at a request's first byte
 *   (or when the connection opens) and stops it when the parser has the whole
 *   message, so they bound only the receiving of a request: a response or an
 *   SSE stream may last for hours. Node looks for expired requests every
 *   `connectionsCheckingInterval` (30 s by default), so that interval is
 *   derived from the deadlines here: a cut comes within a tenth of the
 *   shortest deadline (at most 1 s) of being due.
 * - Body idle deadline: Node has none (a socket `timeout` would also cut a
 *   quiet SSE stream). One sweep per listener looks at each request still
 *   receiving its body and cuts one whose socket has read nothing for the
 *   deadline — unless the handler is the one not reading (the request's
 *   buffer is full), which is not the client's fault.
 * - Connection cap: counted here rather than with Node's `maxConnections`,
 *   which closes a connection past the cap without a word; here it is
 *   answered 503 with a JSON-RPC error, then closed.
 *
 * A request cut off is answered 408 with a JSON-RPC error (unless its answer
 * has begun) and its connection is closed: where the next request on it
 * would start is unknowable. Every cut and refusal is counted by phase or
 * reason (src/observe/metrics.ts, ListenerMetrics).
 */
import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConfigError, type ErrorCode, ErrorKinds } from '../errors.ts';
import type { ListenerMetrics } from '../observe/metrics.ts';

export interface ConnectionLimits {
  /** Deadline for a request's headers, in ms; 0: none. */
  readonly headersTimeoutMs: number;
  /** Deadline for a whole request, headers and body, in ms; 0: none. */
  readonly requestTimeoutMs: number;
  /** Longest pause while a body is being received, in ms; 0: none. */
  readonly bodyIdleTimeoutMs: number;
  /** Most open connections; 0: no cap. */
  readonly maxConnections: number;
}

export type TimeoutPhase = 'headers' | 'request' | 'body_idle';

/** How long a refused connection is drained before it is closed, so that the client can read the 503. */
const REFUSED_LINGER_MS = 1_000;
/** Refused connections lingering at once; past it they are closed without an answer. */
const REFUSED_LINGER_MAX = 1_024;
/** Longest wait for an answer to leave before a connection being closed is destroyed. */
const CLOSE_FLUSH_MS = 1_000;

/** Sockets this module cut off; readBody asks, to tell a cut from a client that went away. */
const cut = new WeakSet<Duplex>();

export function timedOut(socket: Duplex | null | undefined): boolean {
  return socket != null && cut.has(socket);
}

/** Validates the limits (at start-up) and returns the options Node's HTTP server takes for them. */
export function serverTimeouts(limits: ConnectionLimits): {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
} {
  const { headersTimeoutMs, requestTimeoutMs } = limits;
  // Node refuses a headers deadline past the request deadline; say which fields.
  if (headersTimeoutMs > 0 && requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError(
      `headersTimeoutMs (${headersTimeoutMs}) must not exceed requestTimeoutMs (${requestTimeoutMs})`,
    );
  }
  return {
    headersTimeout: headersTimeoutMs,
    requestTimeout: requestTimeoutMs,
    connectionsCheckingInterval: checkIntervalMs(limits),
  };
}

export function checkIntervalMs(limits: ConnectionLimits): number {
  const deadlines = [limits.headersTimeoutMs, limits.requestTimeoutMs, limits.bodyIdleTimeoutMs].filter((ms) => ms > 0);
  if (deadlines.length === 0) return 30_000;
  return Math.min(1_000, Math.max(25, Math.floor(Math.min(...deadlines) / 10)));
}

/**
 * Installs the connection cap, the body idle sweep and the answer to Node's
 * request timeouts on a server built with `serverTimeouts(limits)`. Must run
 * before the server listens; the sweep stops when the server closes.
 */
export function guardConnections(
  server: Server,
  listener: string,
  limits: ConnectionLimits,
  metrics: ListenerMetrics | undefined,
): void {
  const connections = metrics?.connections.labels(listener);
  const refusedFull = metrics?.refused.labels(listener, 'max_connections');
  const timeouts = {
    headers: metrics?.timeouts.labels(listener, 'headers'),
    request: metrics?.timeouts.labels(listener, 'request'),
    body_idle: metrics?.timeouts.labels(listener, 'body_idle'),
  };
  /** The answer in progress on each socket, to tell a headers timeout from a body one and not to answer twice. */
  const answering = new WeakMap<Duplex, ServerResponse>();
  let open = 0;
  let lingering = 0;

  // The cap runs before Node's HTTP machinery sees the connection: a refused
  // one never gets a parser, a request object or a handler call.
  const http = server.listeners('connection');
  if (http.length !== 1) throw new Error(`expected one HTTP connection listener, found ${http.length}`);
  const httpConnection = http[0] as (socket: Socket) => void;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (limits.maxConnections > 0 && open >= limits.maxConnections) {
      refusedFull?.inc();
      refuse(socket);
      return;
    }
    open++;
    connections?.inc();
    socket.once('close', () => {
      open--;
      connections?.dec();
    });
    httpConnection.call(server, socket);
  });
  if (limits.maxConnections > 0) {
    // Backstop for what the count above cannot see: Node drops past this, silently.
    server.maxConnections = limits.maxConnections + REFUSED_LINGER_MAX;
    server.on('drop', () => refusedFull?.inc());
  }

  function refuse(socket: Socket): void {
    socket.on('error', () => {});
    if (lingering >= REFUSED_LINGER_MAX) {
      socket.destroy();
      return;
    }
    lingering++;
    socket.once('close', () => lingering--);
    // Read and discard what the client sends meanwhile: closing with unread
    // data would reset the connection, and the client might lose the answer.
    socket.on('data', () => {});
    socket.once('end', () => socket.destroy());
    setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
    socket.end(rawAnswer('SARK_TOO_MANY_CONNECTIONS', 'retry-after: 1\r\n'));
  }

  const reading = new Map<IncomingMessage, { bytes: number; since: number }>();
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    answering.set(req.socket, res);
    if (limits.bodyIdleTimeoutMs > 0 && hasBody(req)) {
      reading.set(req, { bytes: req.socket.bytesRead, since: performance.now() });
    }
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') return;
    const res = answering.get(socket);
    const phase: TimeoutPhase = res !== undefined && !res.req.complete ? 'request' : 'headers';
    timeouts[phase]?.inc();
    cutOff(socket, res);
  });

  if (limits.bodyIdleTimeoutMs > 0) {
    const sweep = setInterval(() => {
      const now = performance.now();
      for (const [req, progress] of reading) {
        const socket = req.socket;
        if (req.complete || socket.destroyed) {
          reading.delete(req);
          continue;
        }
        const bytes = socket.bytesRead;
        if (bytes !== progress.bytes || req.readableLength >= req.readableHighWaterMark) {
          progress.bytes = bytes;
          progress.since = now;
        } else if (now - progress.since >= limits.bodyIdleTimeoutMs) {
          reading.delete(req);
          timeouts.body_idle?.inc();
          cutOff(socket, answering.get(socket));
        }
      }
    }, checkIntervalMs(limits));
    sweep.unref();
    server.once('close', () => clearInterval(sweep));
  }
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** 408 unless the answer has begun, then close; the pipeline's body read fails with SARK_REQUEST_TIMEOUT. */
function cutOff(socket: Duplex, res: ServerResponse | undefined): void {
  cut.add(socket);
  if (res?.headersSent || !socket.writable) {
    socket.destroy();
    return;
  }
  answerAndClose(socket, rawAnswer('SARK_REQUEST_TIMEOUT'));
}

/**
 * Writes a complete HTTP answer straight to the socket (no request object
 * exists, or its parser is past use), then closes the connection: at once
 * when the answer has left, or after CLOSE_FLUSH_MS when the client does not
 * read it. Ending alone would leave it half open for as long as the client
 * likes (HTTP servers allow half-open connections).
 */
export function answerAndClose(socket: Duplex, answer: string): void {
  socket.on('error', () => {});
  const timer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS).unref();
  socket.end(answer, () => {
    clearTimeout(timer);
    socket.destroy();
  });
}

/** An HTTP answer carrying the catalogue error `code` as a JSON-RPC error with a null id. */
export function rawAnswer(code: ErrorCode, extraHeaders = ''): string {
  const kind = ErrorKinds[code];
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: kind.rpcCode, message: kind.message } });
  return (
    `HTTP/1.1 ${kind.httpStatus} ${STATUS_CODES[kind.httpStatus]}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `x-sark-error: ${code}\r\n${extraHeaders}connection: close\r\n\r\n${body}`
  );
}
