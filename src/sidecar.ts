/**
 * The composition root: builds every stage from one validated config, starts
 * the listeners, and stops everything in reverse order. Each factory validates
 * its options and fails here, at start-up, never on a request.
 */
import type { Server } from 'node:http';
import type { SarkConfig } from './config/schema.ts';
import { Authorizer } from './decide/authorize.ts';
import { Bindings } from './decide/bindings.ts';
import { primaryReason } from './decide/decision.ts';
import type { PolicyEngine } from './decide/engine.ts';
import { createOpaEngine } from './decide/opa-client.ts';
import { createPolicyPath } from './decide/policy-path.ts';
import { createWasmEngine } from './decide/wasm-engine.ts';
import { type DemoServer, startDemoServer } from './demo/server.ts';
import { LegacyTransport } from './forward/legacy.ts';
import { createUpstream, type Upstream } from './forward/upstream.ts';
import { createIdentityStage } from './identity/stage.ts';
import { createAdminHandler } from './listen/admin.ts';
import { DecisionApiAdapter } from './listen/decision-api.ts';
import { HostGuard, localAddresses } from './listen/host-guard.ts';
import type { Transport } from './listen/intake.ts';
import { LegacySseAdapter } from './listen/legacy-sse.ts';
import { createPassthrough } from './listen/passthrough.ts';
import { Router } from './listen/router.ts';
import { closeServer, listen } from './listen/server.ts';
import { StreamableHttpAdapter } from './listen/streamable-http.ts';
import { createLogger, type Logger } from './observe/logger.ts';
import { createMetrics, type SarkMetrics } from './observe/metrics.ts';
import { Answerer } from './pipeline/answer.ts';
import { DecisionPort } from './pipeline/decision-port.ts';
import { Pipeline } from './pipeline/flow.ts';
import { LegacyPort, type Port, StreamableHttpPort } from './pipeline/ports.ts';
import {
  DecideStage,
  ForwardStage,
  IdentityStage,
  ObligationsStage,
  RecordStage,
  type Stage,
} from './pipeline/stages.ts';
import type { AuditRecorder } from './record/audit.ts';
import { AuditReader } from './record/audit-query.ts';
import { clickHouseClient } from './record/clickhouse.ts';
import { createAuditRecorder } from './record/recorder.ts';

export interface Sidecar {
  readonly dataUrl: string;
  /** The decision API's base URL, when apiListen is set. */
  readonly apiUrl: string | undefined;
  readonly adminUrl: string;
  readonly mcpUrl: string;
  readonly upstreamUrl: string;
  readonly engine: PolicyEngine['name'];
  readonly demo: DemoServer | undefined;
  readonly metrics: SarkMetrics;
  close(): Promise<void>;
}

export async function startSidecar(
  config: SarkConfig,
  logger: Logger = createLogger(config.logLevel),
): Promise<Sidecar> {
  const metrics = createMetrics();
  const identity = createIdentityStage(config, logger);
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
  const passthrough = createPassthrough({
    upstreamUrl,
    paths: config.passthroughPaths ?? [],
    protectedPaths: [config.mcpPath, config.legacySsePath, config.legacyMessagesPath],
    timeoutMs: config.upstreamTimeoutMs,
  });
  const recorder: AuditRecorder = await createAuditRecorder(config, metrics.audit, logger);
  const bindings = new Bindings(
    { maxEntries: config.bindingMaxEntries, sessionIdleTtlMs: config.sessionIdleTtlMs, taskTtlMs: config.taskTtlMs },
    policy.redis,
  );
  const authorizer = new Authorizer({
    decide: policy.decide,
    rateLimit: policy.rateLimit,
    bindings,
    subscriptionMaxUris: config.subscriptionMaxUris,
    concurrency: config.batchConcurrency,
    logger,
    countDecision: (d) => metrics.decisions.labels(d.allow ? 'allow' : 'deny', primaryReason(d)).inc(),
  });
  const answerer = new Answerer(identity);
  const ports = new Map<Transport, Port>([['streamable-http', new StreamableHttpPort(upstream, answerer, identity)]]);
  if (legacy) ports.set('legacy-sse', new LegacyPort(legacy, answerer));
  const auditReader = config.apiListen && config.auditClickhouseUrl ? auditReaderOf(config) : undefined;
  if (config.apiListen) ports.set('decision-api', new DecisionPort(answerer, auditReader));
  // The one declared list of stages every transport's requests go through.
  const stages: Stage[] = [
    new IdentityStage(identity),
    new DecideStage(authorizer),
    new ObligationsStage(),
    new ForwardStage(ports),
    new RecordStage(recorder, metrics),
  ];
  const pipeline = new Pipeline(stages, config.batchConcurrency, logger);
  const bodyOptions = {
    serverId: config.serverId,
    maxBodyBytes: config.maxBodyBytes,
    jsonLimits: {
      maxDepth: config.jsonMaxDepth,
      maxStringLength: config.jsonMaxStringLength,
      maxArrayLength: config.jsonMaxArrayLength,
      maxKeys: config.jsonMaxKeys,
    },
    batchMode: config.batchMode,
    batchMaxElements: config.batchMaxElements,
  };
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
    flow: (intake) => pipeline.run(intake),
    // OAuth Protected Resource Metadata (RFC 9728), when OAuth is configured.
    extra: [{ servesPath: (p) => identity.servesMetadata(p), serve: (q, r) => identity.serveMetadata(q, r) }],
  });
  await identity.warm();

  const servers: Server[] = [];
  try {
    const data = await listen(config.listen, router.handle);
    servers.push(data.server);
    if (passthrough) {
      // Other Upgrade requests (h2c, a WebSocket to /mcp) stay requests for the pipeline.
      (data.server as { shouldUpgradeCallback?: typeof passthrough.shouldUpgrade }).shouldUpgradeCallback =
        passthrough.shouldUpgrade;
      data.server.on('upgrade', router.upgrade);
    }
    const api = config.apiListen
      ? await listen(
          config.apiListen,
          new DecisionApiAdapter({
            serverId: config.serverId,
            maxBodyBytes: config.maxBodyBytes,
            jsonLimits: bodyOptions.jsonLimits,
            flow: (intake) => pipeline.run(intake),
          }).handle,
        )
      : undefined;
    if (api) servers.push(api.server);
    const admin = await listen(config.adminListen, createAdminHandler({ metrics, probePolicy: () => engine.probe() }));
    servers.push(admin.server);
    logger.info(
      {
        data: data.url,
        api: api?.url,
        admin: admin.url,
        upstream: upstreamUrl,
        engine: engine.name,
        serverId: config.serverId,
        identity: identity.describe(),
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
      async close() {
        await Promise.all(servers.map(closeServer));
        await upstream.close();
        await legacy?.close();
        passthrough?.close();
        await policy.close();
        await recorder.close();
        await auditReader?.close();
        await demo?.close();
        identity.close();
      },
    };
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    await upstream.close();
    await legacy?.close();
    passthrough?.close();
    await policy.close();
    await recorder.close();
    await auditReader?.close();
    await demo?.close();
    identity.close();
    throw err;
  }
}

/** The decision API's reader of the ClickHouse audit table. */
function auditReaderOf(config: SarkConfig): AuditReader {
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
