/**
 * The admin listener's routes: /healthz (the process is up), /readyz (ready
 * only while the policy engine answers; a sidecar that cannot decide must not
 * receive traffic), /metrics (Prometheus text format) and /loglevel (read
 * or change the log level at run time, observe/loglevel.ts). Optional details
 * (the registry's state) join the /readyz body without deciding readiness:
 * stale registry data keeps serving (docs/registry.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LogLevelControl } from '../observe/loglevel.ts';
import type { SarkMetrics } from '../observe/metrics.ts';

export interface AdminDeps {
  metrics: SarkMetrics;
  /** True while the policy engine answers. */
  probePolicy: () => Promise<boolean>;
  /** GET/PUT /loglevel; absent: 404. */
  logLevel?: LogLevelControl | undefined;
  /** Extra /readyz fields, by name (e.g. `registry`). */
  readyDetails?: (() => Record<string, unknown>) | undefined;
}

export function createAdminHandler(deps: AdminDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { metrics, probePolicy, logLevel, readyDetails } = deps;
  return function admin(req, res) {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/loglevel' && logLevel) {
      logLevel.handle(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/healthz':
        send(res, 200, { status: 'ok' });
        return;
      case '/readyz':
        // The probe's outcome feeds sark_policy_engine_up through the engine's health, not here.
        probePolicy().then(
          (up) => {
            const body = up ? { status: 'ready' } : { status: 'not ready', reason: 'policy_unavailable' };
            send(res, up ? 200 : 503, readyDetails ? { ...body, ...readyDetails() } : body);
          },
          () => {
            const body = { status: 'not ready', reason: 'policy_unavailable' };
            send(res, 503, readyDetails ? { ...body, ...readyDetails() } : body);
          },
        );
        return;
      case '/metrics':
        metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': metrics.registry.contentType });
            res.end(text);
          },
          () => send(res, 500, { status: 'error' }),
        );
        return;
      default:
        send(res, 404, { status: 'not found' });
    }
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
