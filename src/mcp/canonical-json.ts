/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace (the
 * ordering rule of RFC 8785 §3.2.3), undefined members left out, so equal
 * arguments give equal text whatever order the client sent them in. The
 * decision cache keys and the audit argument digest both use it.
 */
import { hash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** Digests of argument objects already hashed, so a call's arguments are canonicalized and hashed once. */
const digests = new WeakMap<object, string>();

/**
 * sha256 (hex) of the canonical JSON of an arguments object. The decision
 * cache key and the audit digest of the same object share one computation
 * (an argument edit makes a new object, hashed anew). Arguments are never
 * mutated once parsed (edits copy), so a memo keyed by the object is sound.
 */
export function argumentsDigest(args: Readonly<Record<string, unknown>>): string {
  let d = digests.get(args);
  if (d === undefined) {
    d = hash('sha256', canonicalJson(args), 'hex');
    digests.set(args, d);
  }
  return d;
}
