/**
 * Runs `fn` over `items` with at most `limit` calls in flight, keeping the
 * order of the results. Used where one request fans out into several policy
 * decisions (batch elements, subscription URIs, listed items): bounded, so
 * one request cannot queue thousands of evaluations at once, and concurrent,
 * so a batch does not pay each decision's latency in turn.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  if (items.length === 1) {
    out[0] = await fn(items[0]!, 0);
    return out;
  }
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(limit, items.length); w++) workers.push(worker());
  await Promise.all(workers);
  return out;
}
