/**
 * The containers and volumes injected into a pod: the iptables init
 * container, SARK, and OPA. Pure functions of the webhook options and the
 * pod's InjectionSpec.
 *
 * Hardening (Pod Security Standards "restricted" for SARK and OPA): non-root
 * fixed UID, read-only root filesystem, no privilege escalation, every
 * capability dropped, RuntimeDefault seccomp. The init container needs root
 * with NET_ADMIN and NET_RAW for iptables — as Istio's and Linkerd's do — and
 * exits before the pod's containers start.
 */
import type { InjectionSpec } from './annotations.ts';
import type { InjectOptions } from './options.ts';
import { type Container, INJECTED } from './pod.ts';

const RESTRICTED = (uid: number) => ({
  runAsUser: uid,
  runAsGroup: uid,
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

/** Runs deploy/iptables/sark-redirect.sh, which the SARK image installs at this path. */
export const REDIRECT_SCRIPT = '/usr/local/bin/sark-redirect';

export function initContainer(options: InjectOptions, spec: InjectionSpec): Container {
  return {
    name: INJECTED.init,
    image: options.initImage,
    imagePullPolicy: options.imagePullPolicy,
    command: [REDIRECT_SCRIPT],
    env: [
      { name: 'SARK_REDIRECT_PORTS', value: String(spec.mcpPort) },
      { name: 'SARK_PROXY_PORT', value: String(options.sidecarPort) },
      { name: 'SARK_PROXY_UID', value: String(options.sidecarUid) },
    ],
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      // iptables-nft takes its lock under /run (an emptyDir); the rest stays read-only.
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    volumeMounts: [{ name: INJECTED.initRunVolume, mountPath: '/run' }],
  };
}

export function sidecarContainer(options: InjectOptions, spec: InjectionSpec, hasSecret: boolean): Container {
  const env: { name: string; value: string }[] = [
    { name: 'SARK_LISTEN', value: `0.0.0.0:${options.sidecarPort}` },
    { name: 'SARK_ADMIN_LISTEN', value: `0.0.0.0:${options.sidecarAdminPort}` },
    { name: 'SARK_MCP_PATH', value: spec.mcpPath },
    // Loopback: leaves through OUTPUT, where the sidecar's UID is let through (no loop back to SARK).
    { name: 'SARK_UPSTREAM_URL', value: `http://127.0.0.1:${spec.mcpPort}${spec.mcpPath}` },
    { name: 'SARK_OPA_URL', value: `http://127.0.0.1:${options.opaPort}` },
    { name: 'SARK_SERVER_ID', value: spec.serverId },
    { name: 'SARK_LOG_LEVEL', value: spec.logLevel },
  ];
  if (spec.passthroughPaths.length > 0)
    env.push({ name: 'SARK_PASSTHROUGH_PATHS', value: spec.passthroughPaths.join(',') });
  // The data listener's Host and Origin allow-lists (DNS rebinding), per pod.
  const fill = (list: string) => list.replaceAll('{serverId}', spec.serverId).replaceAll('{namespace}', spec.namespace);
  if (options.sidecarAllowedHosts) env.push({ name: 'SARK_ALLOWED_HOSTS', value: fill(options.sidecarAllowedHosts) });
  if (options.sidecarAllowedOrigins)
    env.push({ name: 'SARK_ALLOWED_ORIGINS', value: fill(options.sidecarAllowedOrigins) });
  const extra = { ...options.sidecarEnv };
  // The root filesystem is read-only: file audit and spool go to the pod's emptyDir unless configured.
  extra.SARK_AUDIT_SPOOL_DIR ??= '/var/run/sark/spool';
  if (extra.SARK_AUDIT_CLICKHOUSE_URL === undefined) extra.SARK_AUDIT_FILE ??= '/var/run/sark/audit.ndjson';
  for (const name of Object.keys(extra).sort()) env.push({ name, value: extra[name]! });

  return {
    name: INJECTED.sidecar,
    image: options.sidecarImage,
    imagePullPolicy: options.imagePullPolicy,
    args: ['serve'],
    env,
    ...(hasSecret ? { envFrom: [{ secretRef: { name: options.sidecarSecretName, optional: true } }] } : {}),
    ports: [
      { name: 'sark-mcp', containerPort: options.sidecarPort, protocol: 'TCP' },
      { name: 'sark-admin', containerPort: options.sidecarAdminPort, protocol: 'TCP' },
    ],
    livenessProbe: {
      httpGet: { path: '/healthz', port: options.sidecarAdminPort },
      periodSeconds: 10,
      failureThreshold: 3,
    },
    // Ready only while the policy engine answers: a sidecar that cannot decide takes no traffic.
    readinessProbe: {
      httpGet: { path: '/readyz', port: options.sidecarAdminPort },
      periodSeconds: 5,
      failureThreshold: 2,
    },
    resources: spec.resources,
    securityContext: RESTRICTED(options.sidecarUid),
    volumeMounts: [{ name: INJECTED.runVolume, mountPath: '/var/run/sark' }],
  };
}

export function opaContainer(options: InjectOptions, spec: InjectionSpec): Container {
  return {
    name: INJECTED.opa,
    image: options.opaImage,
    imagePullPolicy: options.imagePullPolicy,
    args: [
      'run',
      '--server',
      // The decision API stays inside the pod: only SARK asks it.
      `--addr=127.0.0.1:${options.opaPort}`,
      `--diagnostic-addr=0.0.0.0:${options.opaDiagnosticPort}`,
      '--log-level=error',
      '--skip-version-check',
      '--optimize-store-for-read-speed',
      `--set=services.sark.url=${options.opaBundleUrl}`,
      '--set=bundles.sark.service=sark',
      `--set=bundles.sark.resource=${spec.policyBundle}`,
      '--set=bundles.sark.polling.min_delay_seconds=10',
      '--set=bundles.sark.polling.max_delay_seconds=30',
    ],
    // Less garbage-collection CPU per decision for a few MiB of heap (options.ts OPA_GOGC_DEFAULT).
    env: [{ name: 'GOGC', value: String(options.opaGogc) }],
    ports: [{ name: 'sark-opa-diag', containerPort: options.opaDiagnosticPort, protocol: 'TCP' }],
    livenessProbe: { httpGet: { path: '/health', port: options.opaDiagnosticPort }, periodSeconds: 10 },
    // Ready once the policy bundle is activated.
    readinessProbe: { httpGet: { path: '/health?bundles', port: options.opaDiagnosticPort }, periodSeconds: 5 },
    resources: options.opaResources,
    securityContext: RESTRICTED(options.sidecarUid),
  };
}

export function injectedVolumes(): { name: string; emptyDir: Record<string, string> }[] {
  return [
    { name: INJECTED.runVolume, emptyDir: { sizeLimit: '256Mi' } },
    { name: INJECTED.initRunVolume, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
  ];
}
