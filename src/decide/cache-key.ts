/**
 * What a cached decision is keyed on, and how long it may live.
 *
 * The key is a digest of the policy revision and the parts of the input the
 * policy is expected to decide on: the agent document, the server, the
 * action/kind/method/era/protocol version and the target (tool, prompt,
 * resource or task). The arguments join the key only when the decision's
 * `cache.scope` says it depends on them. Request metadata (time, client
 * address, session, client info) is never part of the key: a policy that
 * decides on it must not mark its decision cacheable (docs/decision-cache.md).
 */
import { hash } from 'node:crypto';
import { argumentsDigest } from '../mcp/canonical-json.ts';
import type { PolicyInput } from './input.ts';

/**
 * The decision's `cache.scope` (opa/policies/gateway/gateway_decision.rego):
 * `target` — the decision depends on the input without request, session_id,
 * client and arguments; `arguments` — on that plus the arguments; `none` —
 * do not cache. An absent or unknown scope is treated as `arguments`.
 */
export type CacheScope = 'target' | 'arguments';

export interface CacheDirective {
  readonly ttlMs: number;
  readonly scope: CacheScope;
}

export interface TtlCaps {
  readonly maxTtlMs: number;
  readonly maxDenyTtlMs: number;
}

/**
 * The decision's `cache` object turned into a lifetime, capped by
 * configuration; undefined when the decision must not be cached (no `cache`,
 * a zero or invalid TTL, or a zero cap).
 */
export function cacheDirective(doc: Readonly<Record<string, unknown>>, caps: TtlCaps): CacheDirective | undefined {
  const cache = doc.cache;
  if (cache === null || typeof cache !== 'object' || Array.isArray(cache)) return undefined;
  const { ttl_seconds: ttl, scope } = cache as { ttl_seconds?: unknown; scope?: unknown };
  if (scope === 'none') return undefined;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) return undefined;
  const cap = doc.allow === true ? caps.maxTtlMs : caps.maxDenyTtlMs;
  const ttlMs = Math.min(Math.floor(ttl * 1000), cap);
  if (ttlMs <= 0) return undefined;
  // Conservative: only an explicit "target" leaves the arguments out of the key.
  return { ttlMs, scope: scope === 'target' ? 'target' : 'arguments' };
}

function digest(text: string): string {
  return hash('sha256', text, 'base64url');
}

/** Frozen agent documents (input.ts builds one per identity) serialized once each. */
const AGENT_JSON = new WeakMap<object, string>();

function agentJson(agent: unknown): string {
  if (agent === null || typeof agent !== 'object' || !Object.isFrozen(agent)) return JSON.stringify(agent);
  let json = AGENT_JSON.get(agent);
  if (json === undefined) {
    json = JSON.stringify(agent);
    AGENT_JSON.set(agent, json);
  }
  return json;
}

/**
 * The argument-independent key. With a registry the registry's facts join
 * it (the server's, the tool's, the server list's), so that a refresh that
 * changes them never serves a decision made on the old ones; without, the
 * key is what it always was.
 */
export function baseKey(revision: string, input: PolicyInput): string {
  // Serialized as JSON.stringify([revision, agent, ...parts]) would be (the
  // golden keys pin it), with the agent's part reused.
  const parts: unknown[] = [
    input.server.id,
    input.action,
    input.kind,
    input.method,
    input.era,
    input.protocol_version,
    input.tool?.name ?? null,
    input.prompt?.name ?? null,
    input.resource?.uri ?? null,
    input.task?.id ?? null,
  ];
  if (input.server.registry !== undefined) {
    parts.push(input.server.registry, input.tool?.registry ?? null, input.registry ?? null);
  }
  return digest(`[${JSON.stringify(revision)},${agentJson(input.agent)},${JSON.stringify(parts).slice(1)}`);
}

/** The key of an argument-scoped decision: the base key and the canonical arguments. */
export function argumentsKey(base: string, input: PolicyInput): string {
  return input.arguments === undefined ? `${base}.-` : `${base}.${argumentsDigest(input.arguments)}`;
}
