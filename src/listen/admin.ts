/**
 * The admin listener's routes: /healthz (the process is up), /readyz (ready
 * only while the policy engine answers; a sidecar that cannot decide must not
 * receive traffic) and /metrics (Prometheus text format). Optional details
 * (the registry's state) join the /readyz body without deciding readiness:
 * stale registry data keeps serving (docs/registry.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SarkMetrics } from '../observe/metrics.ts';

export interface AdminDeps {
  metrics: SarkMetrics;
  /** True while the policy engine answers. */
  probePolicy: () => Promise<boolean>;
  /** Extra /readyz fields, by name (e.g. `registry`). */
  readyDetails?: () => Record<string, unknown>;
}

export function createAdminHandler(deps: AdminDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { metrics, probePolicy, readyDetails } = deps;
  return function admin(req, res) {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/healthz':
        send(res, 200, { status: 'ok' });
        return;
      case '/readyz':
        probePolicy().then(
          (up) => {
            metrics.policyUp.set(up ? 1 : 0);
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
