/**
 * The decision's obligations (opa/schemas/decision.schema.json), read once per
 * decision and applied by later stages:
 * - `obligations.arguments` rewrites the tool or prompt arguments before the
 *   message is forwarded: start from `replace` when not null, remove the
 *   `drop` JSON Pointers (RFC 6901), overwrite the `redact` pointers with the
 *   placeholder;
 * - `visible_tools` filters a tools/list result to the tools the caller may
 *   invoke;
 * - `cache.ttl_seconds` bounds how long a 2026-07-28 client may keep a list
 *   result (`ttlMs`).
 * A malformed obligation is a policy error: the caller denies (fail closed).
 */
import { SarkError } from '../errors.ts';
import type { Decision } from './decision.ts';

export interface ArgumentObligation {
  readonly replace: Record<string, unknown> | null;
  readonly drop: readonly string[];
  readonly redact: readonly string[];
  readonly placeholder: string;
}

export interface Obligations {
  /** Undefined when the arguments go through unchanged. */
  readonly arguments: ArgumentObligation | undefined;
  /** Undefined when the result is not filtered. */
  readonly visibleTools: ReadonlySet<string> | undefined;
  /** Upper bound for a result's ttlMs; undefined when the policy sets none. */
  readonly maxTtlMs: number | undefined;
}

export const NO_OBLIGATIONS: Obligations = Object.freeze({
  arguments: undefined,
  visibleTools: undefined,
  maxTtlMs: undefined,
});

const POINTER = /^(\/([^~/]|~[01])*)+$/;

function malformed(detail: string): SarkError {
  return new SarkError('SARK_POLICY_MALFORMED', { detail: `obligations: ${detail}` });
}

/** Reads and validates the obligations of an allow decision. Throws SARK_POLICY_MALFORMED. */
export function obligationsOf(decision: Decision): Obligations {
  const doc = decision.document;
  if (!doc) return NO_OBLIGATIONS;
  let args: ArgumentObligation | undefined;
  const o = doc.obligations as { arguments?: unknown } | undefined | null;
  if (o !== undefined && o !== null) {
    if (typeof o !== 'object') throw malformed('"obligations" must be an object');
    const a = o.arguments as Partial<ArgumentObligation> | undefined;
    if (a !== undefined && a !== null) {
      const replace = a.replace ?? null;
      const drop = a.drop ?? [];
      const redact = a.redact ?? [];
      if (replace !== null && (typeof replace !== 'object' || Array.isArray(replace))) {
        throw malformed('"replace" must be an object or null');
      }
      if (!Array.isArray(drop) || !drop.every((p) => typeof p === 'string' && POINTER.test(p))) {
        throw malformed('"drop" must be JSON Pointers');
      }
      if (!Array.isArray(redact) || !redact.every((p) => typeof p === 'string' && POINTER.test(p))) {
        throw malformed('"redact" must be JSON Pointers');
      }
      if (replace !== null || drop.length > 0 || redact.length > 0) {
        args = { replace, drop, redact, placeholder: typeof a.placeholder === 'string' ? a.placeholder : '[REDACTED]' };
      }
    }
  }
  let visibleTools: Set<string> | undefined;
  const v = doc.visible_tools;
  if (v !== undefined && v !== null) {
    if (!Array.isArray(v) || !v.every((t) => typeof t === 'string')) throw malformed('"visible_tools" must be strings');
    visibleTools = new Set(v);
  }
  let maxTtlMs: number | undefined;
  const c = doc.cache as { ttl_seconds?: unknown } | undefined | null;
  if (c && typeof c.ttl_seconds === 'number' && Number.isFinite(c.ttl_seconds) && c.ttl_seconds >= 0) {
    maxTtlMs = c.ttl_seconds * 1000;
  }
  if (args === undefined && visibleTools === undefined && maxTtlMs === undefined) return NO_OBLIGATIONS;
  return { arguments: args, visibleTools, maxTtlMs };
}

/** Applies an argument obligation; returns a new object, never mutates `args`. */
export function applyArgumentObligation(
  args: Record<string, unknown> | undefined,
  o: ArgumentObligation,
): Record<string, unknown> {
  const out = structuredClone(o.replace ?? args ?? {}) as Record<string, unknown>;
  for (const p of o.drop) removeAt(out, p);
  for (const p of o.redact) setIfPresent(out, p, o.placeholder);
  return out;
}

function tokens(pointer: string): string[] {
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(root: unknown, toks: string[]): unknown {
  let cur = root;
  for (let i = 0; i < toks.length - 1; i++) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[toks[i]!];
  }
  return cur;
}

function removeAt(root: Record<string, unknown>, pointer: string): void {
  const toks = tokens(pointer);
  const parent = parentOf(root, toks);
  const last = toks.at(-1)!;
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (Number.isInteger(i) && i >= 0 && i < parent.length) parent.splice(i, 1);
  } else if (parent !== null && typeof parent === 'object' && Object.hasOwn(parent, last)) {
    delete (parent as Record<string, unknown>)[last];
  }
}

function setIfPresent(root: Record<string, unknown>, pointer: string, value: unknown): void {
  const toks = tokens(pointer);
  const parent = parentOf(root, toks);
  const last = toks.at(-1)!;
  if (parent !== null && typeof parent === 'object' && Object.hasOwn(parent, last)) {
    (parent as Record<string, unknown>)[last] = value;
  }
}
