/**
 * Non-MCP traffic on the MCP server's port. Behind transparent interception
 * (deploy/iptables/sark-redirect.sh) every connection to that port lands on
 * SARK, including the kubelet's HTTP probes, a metrics scrape or a WebSocket
 * the server also serves. The paths an operator allow-lists here are passed
 * to the server unchanged through http-proxy-3 (WebSocket upgrades included);
 * every other path that is not an MCP path stays a 404 in the pipeline.
 *
 * Security: an allowed path is forwarded byte for byte, so a path the server
 * could read as its MCP endpoint must never match. Entries are plain segments
 * (the schema refuses dot segments, percent-encoding and backslashes), the
 * request path must be plain in the same way, and any path that equals an MCP
 * path of SARK or of the upstream, ignoring case and a trailing slash (many
 * routers do), is refused at start-up and at request time.
 *
 * @example
 * const passthrough = createPassthrough({ upstreamUrl, paths: ['/healthz', '/metrics/*'], protectedPaths: ['/mcp'] });
 * if (passthrough?.matches(path)) return passthrough.handle(req, res);
 * server.shouldUpgradeCallback = passthrough.shouldUpgrade;
 * server.on('upgrade', passthrough.upgrade);
 */
import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import { ConfigError, SarkError } from '../errors.ts';

export interface PassthroughOptions {
  /** The protected server; only its origin is used (the request path is kept). */
  upstreamUrl: string;
  /** Exact paths, or prefixes written with a trailing "/*". */
  paths: readonly string[];
  /** Paths that must never be passed through: SARK's MCP and legacy paths. The upstream URL's path is added. */
  protectedPaths: readonly string[];
  /** Longest wait for the upstream's answer, in ms (not applied to WebSockets). */
  timeoutMs: number;
}

export interface Passthrough {
  /** True when `path` (no query string) is allow-listed and safe to pass on. */
  matches(path: string): boolean;
  /**
   * Passes a request on. GET and HEAD only (others get 405); resolves when the
   * answer is complete, rejects with SARK_UPSTREAM_* when the server cannot be
   * reached before an answer started (the caller answers it).
   */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /**
   * The data listener's shouldUpgradeCallback: true only for a WebSocket
   * upgrade to an allow-listed path. Any other request carrying Upgrade (an
   * h2c attempt, a WebSocket to the MCP path) stays an ordinary request for
   * the pipeline, which enforces or refuses it.
   */
  shouldUpgrade(req: IncomingMessage): boolean;
  /** The data listener's 'upgrade' handler: WebSockets to allow-listed paths; anything else is refused. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

// The request path must be as plain as the entries: no dot segments, "%", "\" or "//".
const PLAIN_PATH = /^(\/[A-Za-z0-9_~!$&'()*+,;=:@-][A-Za-z0-9._~!$&'()*+,;=:@-]*)*\/?$/;

const canonical = (p: string) => (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p).toLowerCase();

export function createPassthrough(options: PassthroughOptions): Passthrough | undefined {
  if (options.paths.length === 0) return undefined;
  let origin: string;
  let upstreamPath: string;
  try {
    const url = new URL(options.upstreamUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    origin = url.origin;
    upstreamPath = url.pathname;
  } catch {
    throw new ConfigError(
      `passthroughPaths: upstream URL ${JSON.stringify(options.upstreamUrl)} is not an http(s) URL`,
    );
  }
  const guarded = new Set([...options.protectedPaths, upstreamPath].map(canonical));
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of options.paths) {
    if (!entry.startsWith('/') || (entry.includes('*') && !entry.endsWith('/*')))
      throw new ConfigError(`passthroughPaths: ${JSON.stringify(entry)} is not an absolute path or a /* prefix`);
    if (entry.endsWith('/*')) {
      const prefix = entry.slice(0, -1); // keeps the slash: "/metrics/*" matches "/metrics/x", not "/metricsx"
      for (const g of guarded) {
        if (`${g}/`.startsWith(prefix.toLowerCase()))
          throw new ConfigError(`passthroughPaths: ${entry} would pass the MCP path ${g} through unenforced`);
      }
      prefixes.push(prefix);
    } else {
      if (guarded.has(canonical(entry)))
        throw new ConfigError(`passthroughPaths: ${entry} is an MCP path; it cannot be passed through unenforced`);
      exact.add(entry);
    }
  }

  // One keep-alive pool to the server, apart from the MCP pool (undici).
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const proxy = createProxyServer({
    target: origin,
    agent,
    // Unchanged: the server sees the client's Host and no X-Forwarded-* added by SARK.
    changeOrigin: false,
    xfwd: false,
    ws: true,
  });
  // An idle upstream past timeoutMs is cut; remembered per request to answer 504 rather than 502.
  const timedOut = new WeakSet<IncomingMessage>();
  proxy.on('proxyReq', (proxyReq, req) => {
    proxyReq.setTimeout(options.timeoutMs, () => {
      timedOut.add(req);
      proxyReq.destroy();
    });
  });

  function matches(path: string): boolean {
    if (!PLAIN_PATH.test(path) || guarded.has(canonical(path))) return false;
    if (exact.has(path)) return true;
    for (const prefix of prefixes) if (path.startsWith(prefix) && path.length > prefix.length) return true;
    return false;
  }

  function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      req.resume();
      res.setHeader('allow', 'GET, HEAD');
      return Promise.reject(
        new SarkError('SARK_METHOD_NOT_ALLOWED', { publicDetail: 'passthrough paths accept GET and HEAD' }),
      );
    }
    return new Promise((resolve, reject) => {
      res.once('close', () => resolve());
      proxy.web(req, res, {}, (err: NodeJS.ErrnoException) => {
        if (res.headersSent) {
          res.destroy();
          resolve();
          return;
        }
        reject(
          new SarkError(timedOut.has(req) ? 'SARK_UPSTREAM_TIMEOUT' : 'SARK_UPSTREAM_UNAVAILABLE', {
            detail: `passthrough ${req.url}: ${err.code ?? err.message}`,
            cause: err,
          }),
        );
      });
    });
  }

  function shouldUpgrade(req: IncomingMessage): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const websocket = req.method === 'GET' && (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    return websocket && matches(q === -1 ? url : url.slice(0, q));
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (!shouldUpgrade(req)) {
      refuseUpgrade(socket, 404, 'Not Found', 'SARK_NOT_FOUND');
      return;
    }
    proxy.ws(req, socket, head, {}, () => refuseUpgrade(socket, 502, 'Bad Gateway', 'SARK_UPSTREAM_UNAVAILABLE'));
  }

  return {
    matches,
    handle,
    shouldUpgrade,
    upgrade,
    close() {
      agent.destroy();
    },
  };
}

function refuseUpgrade(socket: Duplex, status: number, text: string, code: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 ${status} ${text}\r\nx-sark-error: ${code}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
}
