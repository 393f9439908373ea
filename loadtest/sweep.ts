/**
 * The sweep for the highest rate held: up from the best fixed rate held,
 * doubling until a rate is missed (or down, halving, when none was held),
 * then bisecting between the last rate held and the first missed.
 */
import { type ContentionPlan, measure } from './contention.ts';
import { held } from './figures.ts';
import type { Generator } from './generator-client.ts';
import type { Watch } from './proc.ts';
import { log, sleep, summary } from './progress.ts';
import type { RunResult } from './workload-protocol.ts';

export interface SweepPlan {
  readonly warmupS: number;
  readonly durationS: number;
  /** First rate tried when no fixed rate passed; the sweep doubles from the best fixed rate held. */
  readonly startRate: number;
  readonly maxRate: number;
  /** Bisection steps between the last rate held and the first missed. */
  readonly refine: number;
  /** Pause after a missed step so a backlog clears, in ms (default 2000). */
  readonly settleMs?: number;
}

/** The sweep gives up below this rate (req/s): the target holds (almost) nothing. */
const MIN_SWEEP_RATE = 50;

export interface SweepStep extends RunResult {
  readonly held: boolean;
}

export async function sweep(
  gen: Generator,
  watch: Watch,
  s: SweepPlan,
  fixed: RunResult[],
  contention: ContentionPlan | undefined,
): Promise<{ steps: SweepStep[]; heldRate: number }> {
  const steps: SweepStep[] = [];
  const best = fixed.filter(held).reduce((m, r) => Math.max(m, r.rate), 0);
  // A rate missed below one held is noise on the shared cores (a burst of other work), not the limit.
  const worst = fixed
    .filter((r) => !held(r) && r.rate > best)
    .reduce((m, r) => Math.min(m, r.rate), Number.POSITIVE_INFINITY);
  let lastHeld = best;
  let firstMissed = worst;
  const step = async (rate: number) => {
    const r = await measure(gen, { rate, warmupS: s.warmupS, durationS: s.durationS, watch }, contention);
    const ok = held(r);
    steps.push({ ...r, held: ok });
    log(`  sweep ${ok ? 'held  ' : 'missed'} ${summary(r)}`);
    if (ok) lastHeld = Math.max(lastHeld, rate);
    else {
      if (rate > lastHeld) firstMissed = Math.min(firstMissed, rate);
      await sleep(s.settleMs ?? 2000); // let a backlog clear before the next step
    }
    return ok;
  };
  if (best > 0 || !Number.isFinite(worst)) {
    // Up: double from the best rate held (or the start rate) until a rate is missed.
    let rate = best > 0 ? best * 2 : s.startRate;
    while (rate <= s.maxRate && rate < firstMissed && (await step(rate))) rate *= 2;
  }
  if (lastHeld === 0) {
    // Down: halve until a rate is held, so a saturated target still gets a figure.
    let rate = Math.floor(firstMissed / 2);
    while (rate >= MIN_SWEEP_RATE && !(await step(rate))) rate = Math.floor(rate / 2);
  }
  for (let k = 0; k < s.refine && Number.isFinite(firstMissed) && lastHeld > 0; k++) {
    const mid = Math.round((lastHeld + firstMissed) / 2 / 50) * 50;
    if (mid <= lastHeld || mid >= firstMissed) break;
    await step(mid);
  }
  return { steps, heldRate: lastHeld };
}
