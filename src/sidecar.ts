/**
 * The composition root: builds every stage from one validated config, starts
 * the listeners, and stops everything in reverse order. Each factory validates
 * its options and fails here, at start-up, never on a request.
 */
import type { Server } from 'node:http';
import type { SarkConfig } from './config/schema.ts';
import type { PolicyEngine } from './decide/engine.ts';
import { createOpaEngine } from './decide/opa-client.ts';
import { createPolicyPath } from './decide/policy-path.ts';
import { createWasmEngine } from './decide/wasm-engine.ts';
import { type DemoServer, startDemoServer } from './demo/server.ts';
import { LegacyTransport } from './forward/legacy.ts';
import { createUpstream, type Upstream } from './forward/upstream.ts';
import { createIdentityResolver } from './identity/resolve.ts';
import { createAdminHandler } from './listen/admin.ts';
import { closeServer, listen } from './listen/server.ts';
import { trackConnections } from './observe/connections.ts';
import { createLogger, type Logger } from './observe/logger.ts';
import { createLogLevelControl, type LogLevelControl } from './observe/loglevel.ts';
import { createMetrics, type SarkMetrics } from './observe/metrics.ts';
import { createTracer } from './observe/tracing.ts';
import { Pipeline } from './pipeline/lifecycle.ts';
import type { AuditRecorder } from './record/audit.ts';
import { createAuditRecorder } from './record/recorder.ts';

export interface Sidecar {
  readonly dataUrl: string;
  readonly adminUrl: string;
  readonly mcpUrl: string;
  readonly upstreamUrl: string;
  readonly engine: PolicyEngine['name'];
  readonly demo: DemoServer | undefined;
  readonly metrics: SarkMetrics;
  /** The log level at run time (PUT /loglevel, SIGUSR2). */
  readonly logLevel: LogLevelControl;
  close(): Promise<void>;
}

export async function startSidecar(
  config: SarkConfig,
  logger: Logger = createLogger(config.logLevel),
): Promise<Sidecar> {
  const metrics = createMetrics({
    serverId: config.serverId,
    toolNames: config.metricsToolNames,
    maxToolLabels: config.metricsMaxToolLabels,
    reasonCodes: config.metricsReasonCodes,
  });
  const logLevel = createLogLevelControl(logger);
  // Off (and the OTLP module not even loaded) unless an endpoint is configured.
  const tracer = await createTracer(
    {
      endpoint: config.tracingOtlpEndpoint,
      serviceName: config.tracingServiceName,
      serverId: config.serverId,
      sampleRatio: config.tracingSampleRatio,
      maxQueueSpans: 2048,
      maxBatchSpans: 512,
      exportIntervalMs: 2000,
      exportTimeoutMs: 10_000,
    },
    { metrics: metrics.runtime, logger },
  );
  const resolveIdentity = createIdentityResolver(config);
  const engine: PolicyEngine = config.opaUrl
    ? createOpaEngine({
        url: config.opaUrl,
        decisionPath: config.opaDecisionPath,
        timeoutMs: config.opaTimeoutMs,
        connections: config.opaConnections,
      })
    : await createWasmEngine({ dir: config.embeddedPolicyDir, decisionPath: config.opaDecisionPath });
  // engine → breaker (OPA) → decision cache → createDecide; rate limits after an allow.
  const policy = await createPolicyPath(config, engine, metrics, logger);

  let demo: DemoServer | undefined;
  let upstreamUrl = config.upstreamUrl;
  if (!upstreamUrl) {
    demo = await startDemoServer({ port: 0 });
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
  if (legacy) metrics.runtime.countSessions('legacy_sse', () => legacy.sessionCount);
  const recorder: AuditRecorder = await createAuditRecorder(config, metrics.audit, logger);
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
    tracer,
  });

  const servers: Server[] = [];
  try {
    const data = await listen(config.listen, pipeline.handle.bind(pipeline));
    servers.push(data.server);
    trackConnections(data.server, metrics.runtime, 'data');
    const admin = await listen(
      config.adminListen,
      createAdminHandler({ metrics, probePolicy: () => policy.health.probe(), logLevel }),
    );
    servers.push(admin.server);
    trackConnections(admin.server, metrics.runtime, 'admin');
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
      logLevel,
      async close() {
        await Promise.all(servers.map(closeServer));
        await upstream.close();
        await legacy?.close();
        await policy.close();
        await recorder.close();
        await tracer.close();
        logLevel.close();
        await demo?.close();
      },
    };
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    await upstream.close();
    await policy.close();
    await recorder.close();
    await tracer.close();
    logLevel.close();
    await demo?.close();
    throw err;
  }
}
