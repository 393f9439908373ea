/**
 * OAuth scopes: parsing, the configured hierarchy, and which scopes a
 * challenge may ask for.
 *
 * MCP authorization (2025-11-25 and 2026-07-28, "Scope Challenge Handling"):
 * servers MUST account for scope hierarchies, where a broader scope implies
 * narrower ones, when deciding whether a token is sufficient. SARK expands the
 * granted scopes once, when the token is verified, so the policy checks plain
 * membership. `offline_access` asks for a refresh token, not for access to the
 * resource, and is never challenged for ("Refresh Tokens": servers SHOULD NOT
 * include it in a challenge or in `scopes_supported`).
 */
import { ConfigError } from '../errors.ts';

export const OFFLINE_ACCESS = 'offline_access';

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export function isScopeToken(s: string): boolean {
  return SCOPE_TOKEN.test(s);
}

/** A broader scope → the scopes it implies directly. */
export type ScopeHierarchy = ReadonlyMap<string, readonly string[]>;

/**
 * Parses the `scopeHierarchy` setting: `broad>narrow1 narrow2; other>…`.
 * Implication is transitive; cycles are harmless (every scope of a cycle
 * implies the others). Throws a ConfigError naming the bad part.
 */
export function parseScopeHierarchy(text: string | undefined): ScopeHierarchy {
  const map = new Map<string, string[]>();
  if (!text) return map;
  for (const rule of text.split(';')) {
    if (rule.trim() === '') continue;
    const [broad, narrow, ...rest] = rule.split('>');
    const implied = (narrow ?? '').split(/[\s,]+/).filter(Boolean);
    const b = broad?.trim() ?? '';
    if (rest.length > 0 || !isScopeToken(b) || implied.length === 0 || !implied.every(isScopeToken)) {
      throw new ConfigError(`scopeHierarchy: "${rule.trim()}" is not of the form "broad>narrow1 narrow2"`);
    }
    map.set(b, [...(map.get(b) ?? []), ...implied]);
  }
  return map;
}

/** The granted scopes plus every scope they imply, sorted, without duplicates. */
export function expandScopes(granted: Iterable<string>, hierarchy: ScopeHierarchy): string[] {
  const out = new Set<string>();
  const stack = [...granted];
  while (stack.length > 0) {
    const s = stack.pop()!;
    if (out.has(s)) continue;
    out.add(s);
    const implied = hierarchy.get(s);
    if (implied) stack.push(...implied);
  }
  return [...out].sort();
}

/**
 * The scopes claim of a token: a space-separated string (RFC 9068 §2.2.3,
 * RFC 8693 §4.2) or an array of strings (`scp`, as some providers send it).
 * Anything else grants nothing.
 */
export function scopesOf(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '' && isScopeToken(s));
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string' && isScopeToken(s));
  return [];
}

/** The scopes a challenge may name: valid tokens, never offline_access, each once, sorted. */
export function challengeScopes(scopes: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const s of scopes) if (s !== OFFLINE_ACCESS && isScopeToken(s)) out.add(s);
  return [...out].sort();
}

/** Parses a list setting (space- or comma-separated). */
export function splitList(text: string | undefined): string[] {
  return (text ?? '').split(/[\s,]+/).filter(Boolean);
}
