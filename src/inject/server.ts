/**
 * The webhook's HTTPS listener. The API server POSTs AdmissionReviews to
 * /inject/pod (pods labelled sark.io/inject=true) and /inject/namespace (pods
 * in labelled namespaces); /healthz and /readyz answer the kubelet. The
 * certificate files are re-read every tlsReloadMs, so a rotated Secret
 * (cert-manager, or a `helm upgrade` that regenerates it) is served without a
 * restart.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { splitAddress } from '../config/load.ts';
import { ConfigError, SarkError } from '../errors.ts';
import { readBody } from '../listen/body.ts';
import type { Logger } from '../observe/logger.ts';
import type { InjectOptions } from './options.ts';
import type { SelectionMode } from './patch.ts';
import { answerReview, MalformedReview } from './review.ts';

/** The API server sends at most 3 MiB of object; the review wraps it. */
const MAX_REVIEW_BYTES = 4 * 1024 * 1024;

const ROUTES: Readonly<Record<string, SelectionMode>> = { '/inject/pod': 'pod', '/inject/namespace': 'namespace' };

export interface InjectServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

function readPair(options: InjectOptions): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(options.tlsCertFile), key: readFileSync(options.tlsKeyFile) };
  } catch (err) {
    throw new ConfigError(`tlsCertFile/tlsKeyFile: cannot read: ${(err as Error).message}`);
  }
}

export async function startInjectServer(options: InjectOptions, logger: Logger): Promise<InjectServer> {
  let pair = readPair(options);
  const server = createServer({ ...pair, minVersion: 'TLSv1.2' }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    const mode = ROUTES[path];
    if (mode === undefined) {
      req.resume();
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('POST an AdmissionReview\n');
      return;
    }
    readBody(req, MAX_REVIEW_BYTES).then(
      (raw) => {
        let answer: string;
        try {
          answer = JSON.stringify(answerReview(JSON.parse(raw.toString('utf8')), mode, options, logger).review);
        } catch (err) {
          const text = err instanceof MalformedReview ? err.message : 'the body is not an AdmissionReview';
          res.writeHead(400, { 'content-type': 'text/plain' }).end(`${text}\n`);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
        res.end(answer);
      },
      (err) => {
        const tooLarge = err instanceof SarkError && err.code === 'SARK_BODY_TOO_LARGE';
        res.writeHead(tooLarge ? 413 : 400, { connection: 'close' }).end();
      },
    );
  });

  let timer: NodeJS.Timeout | undefined;
  if (options.tlsReloadMs > 0) {
    timer = setInterval(() => {
      try {
        const next = readPair(options);
        if (next.cert.equals(pair.cert) && next.key.equals(pair.key)) return;
        server.setSecureContext({ ...next, minVersion: 'TLSv1.2' });
        pair = next;
        logger.info('webhook certificate reloaded');
      } catch (err) {
        // Keep serving the previous pair: a half-written Secret must not take the webhook down.
        logger.warn({ err: (err as Error).message }, 'webhook certificate reload failed; keeping the current one');
      }
    }, options.tlsReloadMs);
    timer.unref();
  }

  const { host, port } = splitAddress(options.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `https://${shownHost}:${bound.port}`,
    server,
    close() {
      if (timer) clearInterval(timer);
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
