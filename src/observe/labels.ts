/**
 * Bounded label values. A label value that comes from a client (a method, a
 * tool name) or from the policy (a reason code) is used only when it belongs
 * to a known set; anything else is `other`. The number of series SARK exports
 * is therefore fixed by its code, its configuration and the policy catalogue,
 * never by what clients send: an agent that calls a million made-up tools
 * adds no series (Prometheus, "Use labels" / cardinality guidance).
 */
import { ErrorKinds } from '../errors.ts';

export const OTHER = 'other';

/**
 * The `method` label: the MCP methods a client sends, then SARK's own names
 * for what carries no method — a JSON-RPC response from the client, the GET
 * and DELETE of Streamable HTTP, the legacy SSE stream, and `internal` for a
 * failure before the message was read. Any other method is `other`.
 */
const MCP_METHODS = [
  'initialize',
  'server/discover',
  'ping',
  'tools/call',
  'tools/list',
  'resources/read',
  'resources/list',
  'resources/templates/list',
  'resources/subscribe',
  'resources/unsubscribe',
  'subscriptions/listen',
  'prompts/get',
  'prompts/list',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
];
export const METHOD_LABELS: ReadonlySet<string> = new Set([
  ...MCP_METHODS,
  'response',
  // Requests SARK answers before (or without) reading a JSON-RPC message, by entry point.
  'http:post',
  'http:get',
  'http:delete',
  'http:other',
  'legacy:sse',
  'legacy:post',
  'api:authorize',
  'api:authorize-a2a',
  'api:evaluation',
  'api:evaluations',
  'api:servers',
  'api:tools',
  'api:audit',
  'internal',
  OTHER,
]);

/** The `method` label of a parsed JSON-RPC message. */
export function methodLabel(message: unknown): string {
  const method = (message as { method?: unknown } | null)?.method;
  if (typeof method !== 'string') return 'response';
  return METHOD_LABELS.has(method) ? method : OTHER;
}

/**
 * Reason codes of the bundled policy (opa/policies), in the order the policy
 * ranks them; test/unit/observe/labels.test.ts fails when a `_reason("…")` in
 * the policy is missing here. Operators with their own policy add their codes
 * with `metricsReasonCodes`.
 */
export const POLICY_REASON_CODES: readonly string[] = [
  // opa/policies/gateway
  'server_unknown',
  'authentication_required',
  'action_unknown',
  'tool_name_missing',
  'tool_unknown',
  'tool_denied',
  'tool_not_granted',
  'tool_not_shared',
  'resource_denied',
  'resource_not_granted',
  'resource_uri_obfuscated',
  'prompt_not_granted',
  'action_not_granted',
  'method_not_allowed',
  'trust_insufficient',
  'outside_business_hours',
  'environment_mismatch',
  'insufficient_scope',
  'argument_path_traversal',
  'argument_path_obfuscated',
  'argument_path_outside_roots',
  'argument_shell_metacharacters',
  'argument_sql_stacking',
  'arguments_too_large',
  'arguments_too_deep',
  'default_deny',
  'registry_unavailable',
  'registry_server_unlisted',
  'registry_not_visible',
  'registry_server_disabled',
  'registry_tool_unlisted',
  // opa/policies/a2a
  'source_unauthenticated',
  'target_unknown',
  'cross_tenant',
  'source_trust_insufficient',
  'target_trust_insufficient',
  'delegation_too_deep',
  'delegation_cycle',
  'delegation_cross_tenant',
  'schema_version_unsupported',
  'operation_unknown',
  'operation_trust_insufficient',
  'skill_unresolved',
  'skill_denied',
  'skill_unknown',
  'skill_not_offered',
  'skill_inference_refused',
  'skill_not_delegable',
  'delegation_actor_unknown',
  'target_card_unverified',
  'target_provider_mismatch',
  'target_version_unapproved',
  'skill_not_in_card',
  'skill_tag_denied',
  'security_requirements_unmet',
];

/** What `primaryReason` answers when the policy gave no reason. */
const FALLBACK_REASONS = ['allowed', 'denied'];

/**
 * The `reason` label: a catalogue reason (src/errors.ts), a known policy
 * reason, a configured extra, or `other`.
 */
export class ReasonLabels {
  readonly #known: Set<string>;

  constructor(extra: readonly string[] = []) {
    this.#known = new Set([
      ...Object.values(ErrorKinds).map((k) => k.reason),
      ...POLICY_REASON_CODES,
      ...FALLBACK_REASONS,
      ...extra,
    ]);
  }

  label(code: string): string {
    return this.#known.has(code) ? code : OTHER;
  }

  /** Every value the label can take (for tests and docs). */
  values(): string[] {
    return [...this.#known, OTHER];
  }
}

/**
 * The `tool` label. A tool name is its own label value only when it is in the
 * configured list (`metricsToolNames`) or in the policy's tool catalogue for
 * this server (data.sark.tools.<serverId>, refreshed by the decide stage), and
 * at most `max` names are ever admitted; every other name is `other`. So a
 * policy that allows `*` still cannot make a client's invented name a series.
 */
export class ToolLabels {
  readonly #configured: readonly string[];
  readonly #max: number;
  #known: Set<string>;

  constructor(configured: readonly string[], max: number) {
    if (!Number.isInteger(max) || max < 0) throw new TypeError(`max tool labels must be an integer >= 0, got ${max}`);
    this.#configured = configured.filter(isLabelSafe);
    this.#max = max;
    this.#known = this.#bounded([]);
  }

  label(name: string | undefined): string {
    if (name === undefined) return OTHER;
    return this.#known.has(name) ? name : OTHER;
  }

  /** Replaces the catalogue part of the set (configured names are always kept first). */
  setCatalogue(names: readonly string[]): void {
    this.#known = this.#bounded(names);
  }

  get size(): number {
    return this.#known.size;
  }

  #bounded(catalogue: readonly string[]): Set<string> {
    const out = new Set<string>();
    for (const name of [...this.#configured, ...catalogue]) {
      if (out.size >= this.#max) break;
      if (isLabelSafe(name)) out.add(name);
    }
    return out;
  }
}

/** Short printable names only: a catalogue entry is still data, and a label value is not the place for prose. */
function isLabelSafe(name: string): boolean {
  return name.length > 0 && name.length <= 128 && name !== OTHER && /^[\x21-\x7e]+$/.test(name);
}

/**
 * The `status_class` label of an upstream exchange: 1xx..5xx for an HTTP
 * answer, `client_closed` when the client left first (nginx's 499); the
 * failures that replace an answer are `unavailable` and `timeout`.
 */
export function statusClass(status: number): string {
  if (status === 499) return 'client_closed';
  if (status >= 100 && status < 600) return `${Math.floor(status / 100)}xx`;
  return OTHER;
}

/**
 * Buckets, in seconds. A sidecar's own work is measured in tens of
 * microseconds (an l1 cache hit) to milliseconds (an OPA round trip), with a
 * tail to seconds when something is wrong; what includes the MCP server (a
 * tool call) runs to a minute.
 */
export const FAST_BUCKETS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
export const SLOW_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
/** Event time to sink acknowledgement: a flush interval (1 s) when healthy, hours when a sink was down. */
export const AUDIT_DELAY_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400];
