/**
 * Builds the one declared list of stages and the ports that answer each
 * transport, once, at start-up (src/sidecar.ts calls it). Every entry point —
 * the MCP listener (Streamable HTTP and legacy HTTP+SSE), the decision API,
 * ext_authz — hands its Intake to the Pipeline built here; none has a flow of
 * its own.
 */
import type { SarkConfig } from '../config/schema.ts';
import type { A2aAuthorizer } from '../decide/a2a-authorize.ts';
import { Authorizer } from '../decide/authorize.ts';
import { Bindings } from '../decide/bindings.ts';
import type { PolicyPath } from '../decide/policy-path.ts';
import { registryDescriptions } from '../decide/registry/describe.ts';
import type { RegistryView } from '../decide/registry/view.ts';
import type { LegacyTransport } from '../forward/legacy.ts';
import type { Upstream } from '../forward/upstream.ts';
import type { IdentityStage as Identifier } from '../identity/stage.ts';
import type { Transport } from '../listen/intake.ts';
import type { BodyOptions } from '../listen/streamable-http.ts';
import type { Logger } from '../observe/logger.ts';
import type { SarkMetrics } from '../observe/metrics.ts';
import type { Tracer } from '../observe/tracing.ts';
import type { AuditRecorder } from '../record/audit.ts';
import type { AuditReader } from '../record/audit-query.ts';
import { Answerer } from './answer.ts';
import { DecisionPort } from './decision-port.ts';
import { Pipeline } from './flow.ts';
import { LegacyPort, type Port, StreamableHttpPort } from './ports.ts';
import { DecideStage, ForwardStage, IdentityStage, ObligationsStage, RecordStage, type Stage } from './stages.ts';

export interface PipelineParts {
  readonly config: SarkConfig;
  readonly identity: Identifier;
  readonly policy: PolicyPath;
  readonly upstream: Upstream;
  readonly legacy: LegacyTransport | undefined;
  readonly recorder: AuditRecorder;
  readonly auditReader: AuditReader | undefined;
  readonly metrics: SarkMetrics;
  readonly logger: Logger;
  readonly tracer: Tracer;
  /** The agent-to-agent decisions (decision API /authorize-a2a), when the decision API is on. */
  readonly a2a?: A2aAuthorizer | undefined;
  /** The MCP Gateway Registry's data, when gatewayEnabled: its facts join every policy input. */
  readonly registry?: RegistryView | undefined;
}

export interface Assembled {
  readonly pipeline: Pipeline;
  readonly answerer: Answerer;
  /** Ports by transport; an adapter added later (ext_authz) registers its own here before traffic. */
  readonly ports: Map<Transport, Port>;
  /** How the MCP adapters read and classify bodies. */
  readonly bodyOptions: BodyOptions;
  /** Who owns each session and task (sark_sessions_open reads it). */
  readonly bindings: Bindings;
}

export function assemblePipeline(p: PipelineParts): Assembled {
  const { config, identity, metrics } = p;
  const bindings = new Bindings(
    { maxEntries: config.bindingMaxEntries, sessionIdleTtlMs: config.sessionIdleTtlMs, taskTtlMs: config.taskTtlMs },
    p.policy.redis,
  );
  const authorizer = new Authorizer({
    decide: p.policy.decide,
    rateLimit: p.policy.rateLimit,
    bindings,
    subscriptionMaxUris: config.subscriptionMaxUris,
    concurrency: config.batchConcurrency,
    logger: p.logger,
    registry: p.registry,
  });
  const answerer = new Answerer(identity);
  const ports = new Map<Transport, Port>([['streamable-http', new StreamableHttpPort(p.upstream, answerer, identity)]]);
  if (p.legacy) ports.set('legacy-sse', new LegacyPort(p.legacy, answerer));
  if (config.apiListen) {
    // The registry's descriptions join the listings of servers and tools the policy shows.
    const descriptions = p.registry ? registryDescriptions(p.registry) : undefined;
    ports.set('decision-api', new DecisionPort(answerer, p.auditReader, descriptions));
  }
  // The one declared list of stages every transport's requests go through.
  const stages: Stage[] = [
    new IdentityStage(identity),
    new DecideStage(authorizer, p.a2a),
    new ObligationsStage(),
    new ForwardStage(ports),
    new RecordStage(p.recorder, metrics, p.logger),
  ];
  return {
    pipeline: new Pipeline(stages, config.batchConcurrency, p.logger, p.tracer),
    bindings,
    answerer,
    ports,
    bodyOptions: {
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
    },
  };
}
