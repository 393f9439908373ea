/**
 * Reads what a pod asks of the webhook: its sark.io annotations over the
 * webhook's defaults, and the MCP port resolved against its containers. Every
 * problem is a refusal (SARK_INJECT_REFUSED) whose text names the annotation
 * or container and says what to write instead; the API server shows it to
 * whoever created the pod.
 */
import { passthroughList } from '../config/schema.ts';
import { SarkError } from '../errors.ts';
import type { InjectOptions, ResourceRequirements } from './options.ts';
import { resourceRequirements } from './options.ts';
import { ANNOTATION, type Container, type Pod, type Probe } from './pod.ts';

export interface InjectionSpec {
  /** The pod's namespace (fills {namespace} in allowed hosts and origins). */
  readonly namespace: string;
  /** The MCP server's port, as a number. */
  readonly mcpPort: number;
  readonly mcpPath: string;
  readonly serverId: string;
  readonly policyBundle: string;
  readonly resources: ResourceRequirements;
  readonly logLevel: string;
  /** Configured, annotated and probe paths, deduplicated. */
  readonly passthroughPaths: readonly string[];
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/; // IANA_SVC_NAME, as core/v1 validates it
const SERVER_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const KNOWN = new Set<string>(Object.values(ANNOTATION));

export function refuse(message: string): SarkError {
  return new SarkError('SARK_INJECT_REFUSED', { detail: message, publicDetail: message });
}

export function readInjectionSpec(pod: Pod, namespace: string, options: InjectOptions): InjectionSpec {
  const annotations = pod.metadata?.annotations ?? {};
  for (const key of Object.keys(annotations)) {
    if (key.startsWith('sark.io/') && !KNOWN.has(key))
      throw refuse(`unknown annotation ${key}; known: ${[...KNOWN].filter((k) => k !== ANNOTATION.status).join(', ')}`);
  }
  const containers = pod.spec?.containers ?? [];
  const mcpPort = resolveMcpPort(annotations[ANNOTATION.mcpPort], containers);
  const mcpPath = readPath(annotations[ANNOTATION.mcpPath], options.mcpPath);

  const reserved = new Map([
    [options.sidecarPort, 'the SARK data port'],
    [options.sidecarAdminPort, 'the SARK admin port'],
    [options.opaPort, 'the OPA port'],
    [options.opaDiagnosticPort, 'the OPA diagnostic port'],
  ]);
  if (reserved.has(mcpPort))
    throw refuse(`${ANNOTATION.mcpPort}: port ${mcpPort} is ${reserved.get(mcpPort)} of the injected sidecar`);
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      if (reserved.has(p.containerPort))
        throw refuse(
          `container ${c.name} declares port ${p.containerPort}, which is ${reserved.get(p.containerPort)}; the sidecar shares the pod's network`,
        );
    }
  }
  refuseSidecarUid(pod, options.sidecarUid);

  const probePaths = probePathsOnPort(containers, mcpPort, mcpPath);
  let annotated: string[] = [];
  const rawPassthrough = annotations[ANNOTATION.passthroughPaths];
  if (rawPassthrough !== undefined) {
    const parsed = passthroughList.safeParse(rawPassthrough);
    if (!parsed.success) throw refuse(`${ANNOTATION.passthroughPaths}: ${parsed.error.issues[0]?.message}`);
    annotated = parsed.data;
  }
  const passthroughPaths = [...new Set([...(options.passthroughPaths ?? []), ...annotated, ...probePaths])];
  for (const p of passthroughPaths) {
    if (p === mcpPath || p === `${mcpPath}/*` || (p.endsWith('/*') && `${mcpPath}/`.startsWith(p.slice(0, -1))))
      throw refuse(`${ANNOTATION.passthroughPaths}: ${p} would let MCP traffic on ${mcpPath} past SARK`);
  }

  return {
    namespace,
    mcpPort,
    mcpPath,
    serverId: readServerId(pod, annotations[ANNOTATION.serverId]),
    policyBundle: readBundle(annotations[ANNOTATION.policyBundle], options.opaBundleResource),
    resources: readResources(annotations[ANNOTATION.resources], options.sidecarResources),
    logLevel: readLogLevel(annotations[ANNOTATION.logLevel], options.sidecarLogLevel),
    passthroughPaths,
  };
}

/**
 * The annotation names a port by number or by a container port's name; with
 * no annotation the pod must make it unambiguous: a port named "mcp", or a
 * single TCP port in all its containers.
 */
export function resolveMcpPort(value: string | undefined, containers: readonly Container[]): number {
  const tcp = containers.flatMap((c) =>
    (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => ({ container: c.name, ...p })),
  );
  if (value !== undefined) {
    if (/^[0-9]+$/.test(value)) {
      const n = Number(value);
      if (n < 1 || n > 65535) throw refuse(`${ANNOTATION.mcpPort}: ${value} is not a port number (1-65535)`);
      return n;
    }
    if (!PORT_NAME.test(value))
      throw refuse(`${ANNOTATION.mcpPort}: "${value}" is neither a port number nor a valid port name`);
    const named = tcp.filter((p) => p.name === value);
    if (named.length === 0) throw refuse(`${ANNOTATION.mcpPort}: no container declares a TCP port named "${value}"`);
    if (new Set(named.map((p) => p.containerPort)).size > 1)
      throw refuse(`${ANNOTATION.mcpPort}: several containers declare a port named "${value}" with different numbers`);
    return named[0]!.containerPort;
  }
  const mcp = tcp.filter((p) => p.name === 'mcp');
  if (mcp.length === 1) return mcp[0]!.containerPort;
  const numbers = new Set(tcp.map((p) => p.containerPort));
  if (numbers.size === 1) return tcp[0]!.containerPort;
  throw refuse(
    numbers.size === 0
      ? `no container declares a TCP port: set ${ANNOTATION.mcpPort} to the MCP server's port`
      : `the pod declares several TCP ports (${[...numbers].join(', ')}): set ${ANNOTATION.mcpPort} to the MCP server's port number or name`,
  );
}

/**
 * The iptables rules let the sidecar's UID reach the MCP port directly. A
 * container running as that UID would be let through too, unenforced.
 */
function refuseSidecarUid(pod: Pod, uid: number): void {
  const podUid = pod.spec?.securityContext?.runAsUser;
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    const effective = c.securityContext?.runAsUser ?? podUid;
    if (effective === uid)
      throw refuse(
        `container ${c.name} runs as UID ${uid}, the sidecar's UID, whose traffic bypasses enforcement; run it as another UID`,
      );
  }
}

/**
 * HTTP probes on the MCP port reach SARK once traffic is intercepted: their
 * paths are passed through to the server, so that the kubelet still probes
 * the server itself. A probe of the MCP path cannot be passed through.
 */
export function probePathsOnPort(containers: readonly Container[], port: number, mcpPath: string): string[] {
  const paths: string[] = [];
  for (const c of containers) {
    for (const [kind, probe] of [
      ['livenessProbe', c.livenessProbe],
      ['readinessProbe', c.readinessProbe],
      ['startupProbe', c.startupProbe],
    ] as [string, Probe | undefined][]) {
      const get = probe?.httpGet;
      if (!get) continue;
      const target = typeof get.port === 'number' ? get.port : c.ports?.find((p) => p.name === get.port)?.containerPort;
      if (target !== port) continue;
      if ((get.scheme ?? 'HTTP').toUpperCase() !== 'HTTP')
        throw refuse(
          `container ${c.name} ${kind}: an HTTPS probe on the MCP port cannot pass through SARK (plain HTTP)`,
        );
      const path = (get.path ?? '/').split('?')[0]!;
      const parsed = passthroughList.safeParse(path);
      if (!parsed.success || parsed.data.length !== 1 || path.endsWith('/*'))
        throw refuse(`container ${c.name} ${kind}: probe path ${JSON.stringify(path)} is not a plain path`);
      if (path === mcpPath)
        throw refuse(`container ${c.name} ${kind}: the probe uses the MCP path ${mcpPath}; probe another path`);
      paths.push(path);
    }
  }
  return paths;
}

function readPath(value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (!/^\/[^\s?#]*$/.test(value))
    throw refuse(`${ANNOTATION.mcpPath}: "${value}" is not an absolute URL path such as /mcp`);
  return value;
}

function readServerId(pod: Pod, value: string | undefined): string {
  if (value !== undefined) {
    if (!SERVER_ID.test(value)) throw refuse(`${ANNOTATION.serverId}: expected letters, digits, . _ : - (1-128)`);
    return value;
  }
  const labels = pod.metadata?.labels ?? {};
  const candidate = labels['app.kubernetes.io/name'] ?? labels.app ?? pod.metadata?.name;
  if (candidate && SERVER_ID.test(candidate)) return candidate;
  throw refuse(
    `cannot name the MCP server for the policy: set ${ANNOTATION.serverId} or the app.kubernetes.io/name label`,
  );
}

function readBundle(value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (!/^[A-Za-z0-9._/-]+$/.test(value) || value.split('/').some((s) => s === '..' || s === ''))
    throw refuse(`${ANNOTATION.policyBundle}: "${value}" is not a bundle path such as bundles/filesystem.tar.gz`);
  return value;
}

function readResources(value: string | undefined, fallback: ResourceRequirements): ResourceRequirements {
  if (value === undefined) return fallback;
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw refuse(`${ANNOTATION.resources}: not JSON; expected {"requests":{"cpu":"50m","memory":"96Mi"},"limits":{…}}`);
  }
  const parsed = resourceRequirements.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw refuse(`${ANNOTATION.resources}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

function readLogLevel(value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (!LOG_LEVELS.has(value)) throw refuse(`${ANNOTATION.logLevel}: expected one of ${[...LOG_LEVELS].join(', ')}`);
  return value;
}
