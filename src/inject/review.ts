/**
 * admission.k8s.io/v1 AdmissionReview in, AdmissionReview out
 * (https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#response).
 * The response echoes the request's uid; an injection is `allowed: true` with
 * a base64 JSONPatch; a refusal is `allowed: false` with an HTTP-like status
 * code and the message the API server shows to whoever created the pod.
 *
 * Fail closed: an unexpected error while looking at a pod refuses it rather
 * than letting it start without the sidecar it may have asked for.
 */
import { SarkError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { InjectOptions } from './options.ts';
import { planInjection, type SelectionMode, type SkipReason } from './patch.ts';
import type { Pod } from './pod.ts';

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
}

export interface AdmissionReviewOut {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** A body that is not an AdmissionReview v1 with a request and a uid (answered with HTTP 400). */
export class MalformedReview extends Error {}

export interface ReviewResult {
  readonly review: AdmissionReviewOut;
  /** For metrics and logs: injected, refused, error, or why it was skipped. */
  readonly outcome: 'injected' | 'refused' | 'error' | SkipReason | 'not_a_pod_create';
}

export function answerReview(
  body: unknown,
  mode: SelectionMode,
  options: InjectOptions,
  logger?: Logger,
): ReviewResult {
  const request = readRequest(body);
  const uid = request.uid;
  const out = (response: Omit<AdmissionResponse, 'uid'>): AdmissionReviewOut => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid, ...response },
  });
  const kind = request.kind as { group?: string; kind?: string } | undefined;
  if (kind?.group !== '' || kind.kind !== 'Pod' || request.operation !== 'CREATE' || request.subResource) {
    return { review: out({ allowed: true }), outcome: 'not_a_pod_create' };
  }
  const pod = request.object as Pod;
  const namespace = typeof request.namespace === 'string' ? request.namespace : (pod?.metadata?.namespace ?? '');
  const podName = pod?.metadata?.name ?? `${pod?.metadata?.generateName ?? ''}*`;
  try {
    if (pod === null || typeof pod !== 'object') throw new MalformedReview('request.object is not a Pod');
    const plan = planInjection(pod, namespace, mode, options);
    if (!plan.inject) return { review: out({ allowed: true }), outcome: plan.reason };
    logger?.debug({ namespace, pod: podName, ops: plan.patch.length }, 'sidecar injected');
    return {
      review: out({
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(plan.patch)).toString('base64'),
      }),
      outcome: 'injected',
    };
  } catch (err) {
    if (err instanceof SarkError && err.code === 'SARK_INJECT_REFUSED') {
      logger?.warn({ namespace, pod: podName, code: err.code, detail: err.publicDetail }, 'sidecar injection refused');
      return {
        review: out({ allowed: false, status: { code: 400, reason: 'BadRequest', message: err.safeMessage } }),
        outcome: 'refused',
      };
    }
    logger?.error({ namespace, pod: podName, err }, 'sidecar injection failed');
    return {
      review: out({
        allowed: false,
        status: {
          code: 500,
          reason: 'InternalError',
          message: 'SARK sidecar injection failed (internal error); the pod is refused rather than started unprotected',
        },
      }),
      outcome: 'error',
    };
  }
}

function readRequest(body: unknown): Record<string, unknown> & { uid: string } {
  if (body === null || typeof body !== 'object') throw new MalformedReview('the body is not a JSON object');
  const review = body as Record<string, unknown>;
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview')
    throw new MalformedReview('expected apiVersion admission.k8s.io/v1, kind AdmissionReview');
  const request = review.request as Record<string, unknown> | undefined;
  if (request === null || typeof request !== 'object' || typeof request.uid !== 'string' || request.uid === '')
    throw new MalformedReview('the AdmissionReview has no request.uid');
  return request as Record<string, unknown> & { uid: string };
}
