/**
 * Rounds of alternated windows, for the micro-benchmarks that compare
 * variants on the shared cores: every variant measured once per round, the
 * order reversed every other round so that drift on the machine falls on all
 * of them alike; then the median of each figure over a variant's windows.
 */
import { parseArgs } from 'node:util';

export type Figures = Record<string, number>;

/** The command line these benchmarks share: --rounds 3 --seconds 5 --concurrency 16 [--write]. */
export function roundsArgs(): { rounds: number; seconds: number; concurrency: number; write: boolean } {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '16' },
      write: { type: 'boolean', default: false },
    },
  });
  return {
    rounds: Number(values.rounds),
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
    write: values.write ?? false,
  };
}

export async function alternate<V extends { readonly name: string }, F extends Figures>(
  variants: readonly V[],
  rounds: number,
  window: (v: V) => Promise<F>,
): Promise<Record<string, F[]>> {
  const samples: Record<string, F[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
      const f = await window(v);
      samples[v.name] ??= [];
      samples[v.name]!.push(f);
      process.stdout.write(`round ${r + 1} ${v.name}: ${JSON.stringify(f)}\n`);
    }
  }
  return samples;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Each variant's median of each figure. */
export function medians<F extends Figures>(samples: Record<string, F[]>): Record<string, F> {
  return Object.fromEntries(
    Object.entries(samples).map(([name, xs]) => [
      name,
      Object.fromEntries(Object.keys(xs[0] ?? {}).map((k) => [k, median(xs.map((x) => x[k]!))])) as F,
    ]),
  );
}
