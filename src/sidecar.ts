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
import { createAuditRecorder } from './record/recorder.ts';
import { createRegistry, type GatewayRegistry } from './registry/registry.ts';

export interface Sidecar {
  readonly dataUrl: string;
  readonly adminUrl: string;
  readonly mcpUrl: string;
  readonly upstreamUrl: string;
  readonly engine: PolicyEngine['name'];
  readonly demo: DemoServer | undefined;
  readonly metrics: SarkMetrics;
  /** The MCP Gateway Registry client, when gatewayEnabled. */
  readonly registry: GatewayRegistry | undefined;
  close(): Promise<void>;
}

export async function startSidecar(
  config: SarkConfig,
  logger: Logger = createLogger(config.logLevel),
): Promise<Sidecar> {
  const metrics = createMetrics();
  const identity = createIdentityStage(config, logger);
  // The MCP Gateway Registry client, undefined unless gatewayEnabled (validated here, read below).
  const registry = createRegistry(config, metrics.registry, logger);
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
  // Off unless gatewayEnabled; waits at most gatewayStartupWaitMs for the first read.
  await registry?.start();
  const authorizer = new Authorizer({
    serverId: config.serverId,
    decide: policy.decide,
    rateLimit: policy.rateLimit,
    bindings,
    subscriptionMaxUris: config.subscriptionMaxUris,
    concurrency: config.batchConcurrency,
    logger,
    countDecision: (d) => metrics.decisions.labels(d.allow ? 'allow' : 'deny', primaryReason(d)).inc(),
    registry: registry?.view,
  });
  const answerer = new Answerer(identity);
  const ports = new Map<Transport, Port>([['streamable-http', new StreamableHttpPort(upstream, answerer, identity)]]);
  if (legacy) ports.set('legacy-sse', new LegacyPort(legacy, answerer));
  // The one declared list of stages every transport's requests go through.
  const stages: Stage[] = [
    new IdentityStage(identity),
    new DecideStage(authorizer),
    new ObligationsStage(),
    new ForwardStage(ports),
    new RecordStage(config.serverId, recorder, metrics),
  ];
  const pipeline = new Pipeline(stages, config.batchConcurrency, logger);
  const bodyOptions = {
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
    const admin = await listen(
      config.adminListen,
      createAdminHandler({
        metrics,
        probePolicy: () => engine.probe(),
        readyDetails: registry ? () => ({ registry: registry.status() }) : undefined,
      }),
    );
    servers.push(admin.server);
    logger.info(
      {
        data: data.url,
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
      adminUrl: admin.url,
      mcpUrl: `${data.url}${config.mcpPath}`,
      upstreamUrl,
      engine: engine.name,
      demo,
      metrics,
      registry,
      async close() {
        await Promise.all(servers.map(closeServer));
        await registry?.close();
        await upstream.close();
        await legacy?.close();
        passthrough?.close();
        await policy.close();
        await recorder.close();
        await demo?.close();
        identity.close();
      },
    };
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    await registry?.close();
    await upstream.close();
    await legacy?.close();
    passthrough?.close();
    await policy.close();
    await recorder.close();
    await demo?.close();
    identity.close();
    throw err;
  }
}
