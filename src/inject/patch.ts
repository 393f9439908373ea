/**
 * Decides whether a pod is injected and writes the RFC 6902 JSON Patch that
 * does it. Pure: the same pod and options always give the same answer, and a
 * pod that already carries the sidecar is left unchanged, so re-invocation
 * (reinvocationPolicy: IfNeeded, or a pod re-submitted with its injected
 * containers) never injects twice.
 */
import { readInjectionSpec, refuse } from './annotations.ts';
import { initContainer, injectedVolumes, opaContainer, sidecarContainer } from './containers.ts';
import type { InjectOptions } from './options.ts';
import { ANNOTATION, INJECT_LABEL, INJECTED, type Pod, pointerToken } from './pod.ts';

export interface JsonPatchOp {
  op: 'add';
  path: string;
  value: unknown;
}

/**
 * How the pod reached the webhook: "pod" through the webhook that selects pods
 * labelled sark.io/inject=true, "namespace" through the one that selects pods
 * in namespaces labelled so (a pod there opts out with sark.io/inject=false).
 */
export type SelectionMode = 'pod' | 'namespace';

export type SkipReason = 'not_requested' | 'opted_out' | 'excluded_namespace' | 'host_network' | 'already_injected';

export type InjectionPlan =
  | { readonly inject: false; readonly reason: SkipReason }
  | { readonly inject: true; readonly patch: JsonPatchOp[] };

/** Throws SARK_INJECT_REFUSED when the pod asks for injection but cannot be injected as it is. */
export function planInjection(pod: Pod, namespace: string, mode: SelectionMode, options: InjectOptions): InjectionPlan {
  const label = pod.metadata?.labels?.[INJECT_LABEL];
  if (label !== undefined && label !== 'true' && label !== 'false')
    throw refuse(`label ${INJECT_LABEL} must be "true" or "false", not ${JSON.stringify(label)}`);
  if (label === 'false') return { inject: false, reason: 'opted_out' };
  if (mode === 'pod' && label !== 'true') return { inject: false, reason: 'not_requested' };
  // Also enforced by the webhook configuration's selectors; checked here so a
  // misconfigured selector cannot inject the control plane.
  if (options.excludeNamespaces.includes(namespace)) return { inject: false, reason: 'excluded_namespace' };
  // A host-network pod shares the node's network namespace: its iptables
  // rules would redirect the node's traffic.
  if (pod.spec?.hostNetwork === true) return { inject: false, reason: 'host_network' };
  if (isInjected(pod)) return { inject: false, reason: 'already_injected' };
  if ((pod.spec?.containers ?? []).length === 0) throw refuse('the pod has no containers');

  const spec = readInjectionSpec(pod, namespace, options);
  const patch: JsonPatchOp[] = [];
  const annotations = pod.metadata?.annotations;
  if (pod.metadata === undefined) patch.push({ op: 'add', path: '/metadata', value: {} });
  if (annotations === undefined) patch.push({ op: 'add', path: '/metadata/annotations', value: {} });
  const annotate = (key: string, value: string) =>
    patch.push({ op: 'add', path: `/metadata/annotations/${pointerToken(key)}`, value });
  annotate(
    ANNOTATION.status,
    JSON.stringify({
      initContainers: [INJECTED.init],
      containers: [INJECTED.sidecar, INJECTED.opa],
      volumes: injectedVolumes().map((v) => v.name),
      mcpPort: spec.mcpPort,
    }),
  );
  // `kubectl logs/exec` keep defaulting to the application, not the sidecar.
  const defaultContainer = 'kubectl.kubernetes.io/default-container';
  if (annotations?.[defaultContainer] === undefined) annotate(defaultContainer, pod.spec!.containers![0]!.name);

  // The interception rules go in before any other init container runs.
  const init = initContainer(options, spec);
  if ((pod.spec?.initContainers ?? []).length === 0)
    patch.push({ op: 'add', path: '/spec/initContainers', value: [init] });
  else patch.push({ op: 'add', path: '/spec/initContainers/0', value: init });

  // Appended: the application stays the first container.
  const hasSecret = options.sidecarSecretName !== undefined;
  patch.push({ op: 'add', path: '/spec/containers/-', value: sidecarContainer(options, spec, hasSecret) });
  patch.push({ op: 'add', path: '/spec/containers/-', value: opaContainer(options, spec) });

  const volumes = injectedVolumes();
  if ((pod.spec?.volumes ?? []).length === 0) patch.push({ op: 'add', path: '/spec/volumes', value: volumes });
  else for (const v of volumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });
  return { inject: true, patch };
}

/**
 * Already injected: the status annotation and our sidecar are both there. Our
 * names used without the annotation are someone else's containers or volumes,
 * which the patch would collide with: refused.
 */
export function isInjected(pod: Pod): boolean {
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  const reserved = new Set<string>(Object.values(INJECTED));
  const taken = [...containers, ...(pod.spec?.volumes ?? [])].filter((c) => reserved.has(c.name)).map((c) => c.name);
  const hasStatus = pod.metadata?.annotations?.[ANNOTATION.status] !== undefined;
  if (hasStatus && containers.some((c) => c.name === INJECTED.sidecar)) return true;
  if (taken.length > 0)
    throw refuse(`the names ${[...new Set(taken)].join(', ')} are reserved for the injected sidecar; rename them`);
  return false;
}
