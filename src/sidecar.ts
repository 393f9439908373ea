/**
 * The composition root: builds every stage from one validated config, starts
 * the listeners, and stops everything in reverse order. Each factory validates
 * its options and fails here, at start-up, never on a request.
 */
import type { Server } from 'node:http';
import { type BundledDemo, startBundledDemo } from './bundled-demo.ts';
import type { SarkConfig } from './config/schema.ts';
import type { PolicyEngine } from './decide/engine.ts';
import { createPolicyPath } from './decide/policy-path.ts';
import { LegacyTransport } from './forward/legacy.ts';
import { createUpstream, type Upstream } from './forward/upstream.ts';
import { createIdentityResolver } from './identity/resolve.ts';
import { createAdminHandler } from './listen/admin.ts';
import { closeServer, connectionLimits, listen } from './listen/server.ts';
import { createLogger, type Logger } from './observe/logger.ts';
import { createMetrics, type SarkMetrics } from './observe/metrics.ts';
import { Pipeline } from './pipeline/lifecycle.ts';
import type { AuditRecorder } from './record/audit.ts';
import { createAuditRecorder } from './record/recorder.ts';

export interface Sidecar {
  readonly dataUrl: string;
  readonly adminUrl: string;
  readonly mcpUrl: string;
  readonly upstreamUrl: string;
  readonly engine: PolicyEngine['name'];
  readonly demo: BundledDemo | undefined;
  readonly metrics: SarkMetrics;
  close(): Promise<void>;
}

export async function startSidecar(
  config: SarkConfig,
  logger: Logger = createLogger(config.logLevel),
): Promise<Sidecar> {
  const metrics = createMetrics();
  // First: an audit destination that cannot be written stops start-up before anything is listening.
  const recorder: AuditRecorder = await createAuditRecorder(config, metrics.audit, logger);
  const resolveIdentity = createIdentityResolver(config);
  // Only the engine in use is loaded (the WASM runtime is not, in front of OPA).
  const engine: PolicyEngine = config.opaUrl
    ? (await import('./decide/opa-client.ts')).createOpaEngine({
        url: config.opaUrl,
        decisionPath: config.opaDecisionPath,
        timeoutMs: config.opaTimeoutMs,
        connections: config.opaConnections,
      })
    : await (await import('./decide/wasm-engine.ts')).createWasmEngine({
        dir: config.embeddedPolicyDir,
        decisionPath: config.opaDecisionPath,
      });
  // engine → breaker (OPA) → decision cache → createDecide; rate limits after an allow.
  const policy = await createPolicyPath(config, engine, metrics, logger);

  let demo: BundledDemo | undefined;
  let upstreamUrl = config.upstreamUrl;
  if (!upstreamUrl) {
    demo = await startBundledDemo();
    upstreamUrl = demo.url;
  }
  const upstream: Upstream = createUpstream({
    url: upstreamUrl,
    timeoutMs: config.upstreamTimeoutMs,
    connections: config.upstreamConnections,
  });
  const legacy = config.upstreamSseUrl
    ? new LegacyTransport({
        sseUrl: config.upstreamSseUrl,
        messagesPath: config.legacyMessagesPath,
        timeoutMs: config.upstreamTimeoutMs,
        connections: config.upstreamConnections,
      })
    : undefined;
  const pipeline = new Pipeline({
    config,
    resolveIdentity,
    decide: policy.decide,
    rateLimit: policy.rateLimit,
    upstream,
    legacy,
    recorder,
    metrics,
    logger,
  });

  const servers: Server[] = [];
  try {
    const data = await listen(config.listen, pipeline.handle.bind(pipeline), {
      name: 'data',
      limits: connectionLimits(config, 'data'),
      metrics: metrics.listener,
    });
    servers.push(data.server);
    const admin = await listen(config.adminListen, createAdminHandler({ metrics, probePolicy: () => engine.probe() }), {
      name: 'admin',
      limits: connectionLimits(config, 'admin'),
      metrics: metrics.listener,
    });
    servers.push(admin.server);
    logger.info(
      { data: data.url, admin: admin.url, upstream: upstreamUrl, engine: engine.name, serverId: config.serverId },
      'sark listening',
    );
    return {
      dataUrl: data.url,
      adminUrl: admin.url,
      mcpUrl: `${data.url}${config.mcpPath}`,
      upstreamUrl,
      engine: engine.name,
      demo,
      metrics,
      async close() {
        await Promise.all(servers.map(closeServer));
        await upstream.close();
        await legacy?.close();
        await policy.close();
        await recorder.close();
        await demo?.close();
      },
    };
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    await upstream.close();
    await policy.close();
    await recorder.close();
    await demo?.close();
    throw err;
  }
}
