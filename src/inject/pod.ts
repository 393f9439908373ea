/**
 * The parts of the Kubernetes Pod (core/v1) the webhook reads or writes, and
 * the sark.io names it understands. Field names follow the API exactly, so
 * that objects from an AdmissionReview are used as they come.
 */

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface HttpGetAction {
  path?: string;
  port: number | string;
  scheme?: string;
}

export interface Probe {
  httpGet?: HttpGetAction;
  tcpSocket?: { port: number | string };
  [field: string]: unknown;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  [field: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  ports?: ContainerPort[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: SecurityContext;
  [field: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  spec?: {
    containers?: Container[];
    initContainers?: Container[];
    volumes?: { name: string; [field: string]: unknown }[];
    hostNetwork?: boolean;
    securityContext?: SecurityContext;
    [field: string]: unknown;
  };
}

/** Pod label (or namespace label) that asks for injection: "true" or "false". */
export const INJECT_LABEL = 'sark.io/inject';

/** Annotations a pod may set; any other sark.io/ annotation is refused as a likely typo. */
export const ANNOTATION = {
  mcpPort: 'sark.io/mcp-port',
  mcpPath: 'sark.io/mcp-path',
  policyBundle: 'sark.io/policy-bundle',
  resources: 'sark.io/resources',
  logLevel: 'sark.io/log-level',
  serverId: 'sark.io/server-id',
  passthroughPaths: 'sark.io/passthrough-paths',
  /** Written by the webhook: what was injected (also makes injection idempotent). */
  status: 'sark.io/status',
} as const;

/** Names of what the webhook adds; a pod that already has any of them is left alone. */
export const INJECTED = {
  sidecar: 'sark',
  opa: 'sark-opa',
  init: 'sark-init',
  runVolume: 'sark-run',
  initRunVolume: 'sark-init-run',
} as const;

/** RFC 6901 JSON Pointer escaping of one reference token. */
export function pointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
