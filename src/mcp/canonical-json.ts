/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace (the
 * ordering rule of RFC 8785 §3.2.3), undefined members left out, so equal
 * arguments give equal text whatever order the client sent them in. The
 * decision cache keys and the audit argument digest both use it.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}
