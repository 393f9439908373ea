/**
 * The composition root: builds every stage from one validated config, starts
 * the listeners, and stops everything in reverse order. Each factory validates
 * its options and fails here, at start-up, never on a request. Only what the
 * configuration uses is loaded (the WASM engine in front of OPA is not; the
 * ClickHouse reader without a decision API is not).
 */
import type { Server } from 'node:http';
import { type BundledDemo, startBundledDemo } from './bundled-demo.ts';
import type { SarkConfig } from './config/schema.ts';
import { createDecide, type PolicyEngine } from './decide/engine.ts';
import { createPolicyPath } from './decide/policy-path.ts';
import type { GatewayRegistry } from './decide/registry/registry.ts';
import { LegacyTransport } from './forward/legacy.ts';
import { createUpstream, type Upstream } from './forward/upstream.ts';
import { loadIdentityStage } from './identity/stage.ts';
import { createAdminHandler } from './listen/admin.ts';
import { HostGuard, localAddresses } from './listen/host-guard.ts';
import { LegacySseAdapter } from './listen/legacy-sse.ts';
import { Router } from './listen/router.ts';
import { closeServer, connectionLimits, listen } from './listen/server.ts';
import { StreamableHttpAdapter } from './listen/streamable-http.ts';
import { trackConnections } from './observe/connections.ts';
import { createLogger, type Logger } from './observe/logger.ts';
import { createLogLevelControl, type LogLevelControl } from './observe/loglevel.ts';
import { createMetrics, type SarkMetrics } from './observe/metrics.ts';
import { createTracer } from './observe/tracing.ts';
import { assemblePipeline } from './pipeline/assemble.ts';
import type { AuditRecorder } from './record/audit.ts';
import type { AuditReader } from './record/audit-query.ts';
import { createAuditRecorder } from './record/recorder.ts';

export interface Sidecar {
  readonly dataUrl: string;
  /** The decision API's base URL, when apiListen is set. */
  readonly apiUrl: string | undefined;
  readonly adminUrl: string;
  readonly mcpUrl: string;
  readonly upstreamUrl: string;
  readonly engine: PolicyEngine['name'];
  readonly demo: BundledDemo | undefined;
  readonly metrics: SarkMetrics;
  /** The log level at run time (PUT /loglevel, SIGUSR2). */
  readonly logLevel: LogLevelControl;
  /** host:port of the Envoy ext_authz gRPC listener, when extAuthzListen is set. */
  readonly extAuthzAddress: string | undefined;
  /** The MCP Gateway Registry client, when gatewayEnabled. */
  readonly registry: GatewayRegistry | undefined;
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
  // First: an audit destination that cannot be written stops start-up before anything is listening.
  const recorder: AuditRecorder = await createAuditRecorder(config, metrics.audit, logger);
  const identity = await loadIdentityStage(config, logger);
  // The MCP Gateway Registry client, undefined unless gatewayEnabled (validated here, read below).
  const registry = config.gatewayEnabled
    ? (await import('./decide/registry/registry.ts')).createRegistry(config, metrics.registry, logger, {
        lastSync: metrics.runtime.registryLastSync,
      })
    : undefined;
  const engine = await createEngine(config);
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
    maxBufferedBytes: config.upstreamMaxBufferedBytes,
  });
  const legacy = config.upstreamSseUrl
    ? new LegacyTransport({
        sseUrl: config.upstreamSseUrl,
        messagesPath: config.legacyMessagesPath,
        timeoutMs: config.upstreamTimeoutMs,
        connections: config.upstreamConnections,
        maxEventBytes: config.upstreamMaxBufferedBytes,
      })
    : undefined;
  // What only some configurations use is loaded only by them (one sidecar per pod: memory counts):
  // the passthrough proxy (http-proxy-3), and with the decision API its schemas, OpenAPI
  // document and the agent-to-agent authorizer (jose).
  const passthrough = config.passthroughPaths?.length
    ? (await import('./listen/passthrough.ts')).createPassthrough({
        upstreamUrl,
        paths: config.passthroughPaths,
        protectedPaths: [config.mcpPath, config.legacySsePath, config.legacyMessagesPath],
        timeoutMs: config.upstreamTimeoutMs,
      })
    : undefined;
  const apiModules = config.apiListen
    ? await Promise.all([
        import('./decide/a2a-authorize.ts'),
        import('./listen/decision-api.ts'),
        import('./pipeline/openapi.ts'),
      ])
    : undefined;
  const auditReader = config.apiListen && config.auditClickhouseUrl ? await auditReaderOf(config) : undefined;
  if (legacy) metrics.runtime.countSessions('legacy_sse', () => legacy.sessionCount);
  // Off unless gatewayEnabled; waits at most gatewayStartupWaitMs for the first read.
  await registry?.start();
  // Agent-to-agent decisions (/authorize-a2a): their own policy entrypoint, through the same fail-closed decide.
  const a2a = apiModules
    ? new apiModules[0].A2aAuthorizer(
        createDecide(await createEngine(config, apiModules[0].A2A_DECISION_PATH), metrics),
        apiModules[0].loadCardKeys(config.a2aCardKeysFile),
      )
    : undefined;
  const { pipeline, bodyOptions, bindings, answerer, ports } = assemblePipeline({
    a2a,
    config,
    tracer,
    identity,
    policy,
    upstream,
    legacy,
    recorder,
    auditReader,
    metrics,
    logger,
    registry: registry?.view,
  });
  metrics.runtime.countSessions('streamable_http', () => bindings.count('session'));
  const flow = (intake: Parameters<typeof pipeline.run>[0]) => pipeline.run(intake);
  // Envoy ext_authz (docs/api.md): its gRPC stack is loaded only when configured (memory, one sidecar per pod).
  const extAuthz = config.extAuthzListen
    ? await Promise.all([import('./pipeline/ext-authz-port.ts'), import('./listen/ext-authz-server.ts')])
    : undefined;
  if (extAuthz) ports.set('ext-authz', new extAuthz[0].ExtAuthzPort(answerer, config.extAuthzUnenforceable, identity));
  const router = new Router({
    serverId: config.serverId,
    mcpPath: config.mcpPath,
    legacySsePath: config.legacySsePath,
    legacyMessagesPath: config.legacyMessagesPath,
    guard: new HostGuard({
      listen: config.listen,
      allowedHosts: config.allowedHosts,
      allowedOrigins: config.allowedOrigins,
      // Kubelet probes of passthrough paths name the pod by its IP.
      localAddresses: localAddresses(),
    }),
    passthrough,
    streamable: new StreamableHttpAdapter(bodyOptions),
    legacy: legacy ? new LegacySseAdapter(bodyOptions) : undefined,
    flow,
    // OAuth Protected Resource Metadata (RFC 9728), when OAuth is configured.
    extra: [{ servesPath: (p) => identity.servesMetadata(p), serve: (q, r) => identity.serveMetadata(q, r) }],
  });
  await identity.warm();

  const servers: Server[] = [];
  let ext: Awaited<ReturnType<NonNullable<typeof extAuthz>[1]['startExtAuthz']>> | undefined;
  const closeAll = async () => {
    await Promise.all([...servers.map(closeServer), ext?.close()]);
    await registry?.close();
    await upstream.close();
    await legacy?.close();
    passthrough?.close();
    await policy.close();
    await recorder.close();
    await auditReader?.close();
    await demo?.close();
    identity.close();
    await tracer.close();
    logLevel.close();
  };
  try {
    const data = await listen(config.listen, router.handle, {
      name: 'data',
      limits: connectionLimits(config, 'data'),
      metrics: metrics.listener,
    });
    servers.push(data.server);
    trackConnections(data.server, metrics.runtime, 'data');
    if (passthrough) {
      // Other Upgrade requests (h2c, a WebSocket to /mcp) stay requests for the pipeline.
      (data.server as { shouldUpgradeCallback?: typeof passthrough.shouldUpgrade }).shouldUpgradeCallback =
        passthrough.shouldUpgrade;
      data.server.on('upgrade', router.upgrade);
    }
    const api = apiModules
      ? await listen(
          config.apiListen!,
          new apiModules[1].DecisionApiAdapter({
            serverId: config.serverId,
            maxBodyBytes: config.maxBodyBytes,
            jsonLimits: bodyOptions.jsonLimits,
            flow,
            openapi: JSON.stringify(apiModules[2].openApiDocument()),
          }).handle,
          { name: 'api', limits: connectionLimits(config, 'data'), metrics: metrics.listener },
        )
      : undefined;
    if (api) {
      servers.push(api.server);
      trackConnections(api.server, metrics.runtime, 'api');
    }
    if (extAuthz) ext = await extAuthz[1].startExtAuthz(config, bodyOptions, flow, logger);
    const admin = await listen(
      config.adminListen,
      createAdminHandler({
        metrics,
        probePolicy: () => policy.health.probe(),
        logLevel,
        readyDetails: registry ? () => ({ registry: registry.status() }) : undefined,
      }),
      { name: 'admin', limits: connectionLimits(config, 'admin'), metrics: metrics.listener },
    );
    servers.push(admin.server);
    trackConnections(admin.server, metrics.runtime, 'admin');
    logger.info(
      {
        data: data.url,
        api: api?.url,
        admin: admin.url,
        upstream: upstreamUrl,
        engine: engine.name,
        serverId: config.serverId,
        identity: identity.describe(),
        extAuthz: ext?.address ?? false,
      },
      'sark listening',
    );
    return {
      dataUrl: data.url,
      apiUrl: api?.url,
      adminUrl: admin.url,
      mcpUrl: `${data.url}${config.mcpPath}`,
      upstreamUrl,
      engine: engine.name,
      demo,
      metrics,
      logLevel,
      extAuthzAddress: ext?.address,
      registry,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Only the engine in use is loaded (the WASM runtime is not, in front of OPA). */
async function createEngine(config: SarkConfig, decisionPath = config.opaDecisionPath): Promise<PolicyEngine> {
  if (config.opaUrl) {
    return (await import('./decide/opa-client.ts')).createOpaEngine({
      url: config.opaUrl,
      decisionPath,
      timeoutMs: config.opaTimeoutMs,
      connections: config.opaConnections,
    });
  }
  return (await import('./decide/wasm-engine.ts')).createWasmEngine({
    dir: config.embeddedPolicyDir,
    decisionPath,
  });
}

/** The decision API's reader of the ClickHouse audit table (loaded only with a decision API and ClickHouse). */
async function auditReaderOf(config: SarkConfig): Promise<AuditReader> {
  const [{ AuditReader }, { clickHouseClient }] = await Promise.all([
    import('./record/audit-query.ts'),
    import('./record/clickhouse.ts'),
  ]);
  const client = clickHouseClient({
    url: config.auditClickhouseUrl!,
    database: config.auditClickhouseDatabase,
    username: config.auditClickhouseUser,
    password: config.auditClickhousePassword,
    requestTimeoutMs: config.auditSendTimeoutMs,
  });
  return new AuditReader(
    client,
    config.auditClickhouseDatabase,
    config.auditClickhouseTable,
    config.auditSendTimeoutMs,
  );
}
