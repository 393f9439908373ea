/**
 * RFC 6902 "add" applied to a copy of a document, for unit tests of the
 * webhook's patches (the integration tests let the real API server apply
 * them). Throws where RFC 6902 says the operation is an error.
 */
export function applyAddPatch<T>(doc: T, ops: readonly { op: string; path: string; value: unknown }[]): T {
  const root: any = structuredClone(doc);
  for (const { op, path, value } of ops) {
    if (op !== 'add') throw new Error(`unsupported op ${op}`);
    const tokens = path
      .split('/')
      .slice(1)
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop()!;
    let target = root;
    for (const t of tokens) {
      if (target === null || typeof target !== 'object' || !(t in target)) throw new Error(`${path}: no parent ${t}`);
      target = target[t];
    }
    if (Array.isArray(target)) {
      const index = last === '-' ? target.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > target.length) throw new Error(`${path}: bad index`);
      target.splice(index, 0, structuredClone(value));
    } else if (target !== null && typeof target === 'object') {
      target[last] = structuredClone(value);
    } else {
      throw new Error(`${path}: parent is not a container`);
    }
  }
  return root;
}
