/**
 * Whether the policy engine answers decisions, for `sark_policy_engine_up`
 * and /readyz. Derived from what the engine actually did, never from bundle
 * status: with OPA serving policy loaded from plain files there is no bundle
 * at all, and the metric used to read 0 during a whole load run in which OPA
 * answered every decision.
 *
 * - Each decision the engine was asked for reports `answered` or `failed`
 *   (a cache hit asks nothing of the engine and reports nothing).
 * - Up: the engine answered within the last `graceMs`, or has not failed
 *   since its last answer. Down: it failed and has not answered for
 *   `graceMs`. A single timeout among successes is not an outage.
 * - When no decision reached the engine for `probeIntervalMs` (an idle
 *   sidecar, or the breaker open), the engine's own probe is asked (OPA's
 *   /health; always true in-process), so the gauge stays true when idle.
 */
import type { PolicyEngine } from './engine.ts';

export interface EngineHealthOptions {
  /** How often an idle engine is probed, in ms; 0: never. */
  readonly probeIntervalMs: number;
  /** How long after its last answer a failing engine still counts as up, in ms. */
  readonly graceMs?: number;
}

export interface EngineHealth {
  /** The engine answered (a decision, valid or not, or a probe). */
  answered(): void;
  /** The engine did not answer (unreachable, timeout, breaker open). */
  failed(): void;
  readonly up: boolean;
  /** Probes the engine now and records the outcome (for /readyz). */
  probe(): Promise<boolean>;
  close(): void;
}

export function createEngineHealth(
  engine: Pick<PolicyEngine, 'probe'>,
  options: EngineHealthOptions,
  gauge: { set(value: number): void },
): EngineHealth {
  const graceMs = options.graceMs ?? 1000;
  if (!Number.isInteger(options.probeIntervalMs) || options.probeIntervalMs < 0) {
    throw new TypeError(`probeIntervalMs must be an integer >= 0, got ${options.probeIntervalMs}`);
  }
  let up = true;
  let lastAnswer = 0;
  let lastOutcome = 0;
  gauge.set(1);

  const health: EngineHealth = {
    answered() {
      const now = performance.now();
      lastAnswer = now;
      lastOutcome = now;
      if (!up) {
        up = true;
        gauge.set(1);
      }
    },
    failed() {
      const now = performance.now();
      lastOutcome = now;
      if (up && now - lastAnswer >= graceMs) {
        up = false;
        gauge.set(0);
      }
    },
    get up() {
      return up;
    },
    async probe() {
      let ok: boolean;
      try {
        ok = await engine.probe();
      } catch {
        ok = false;
      }
      if (ok) health.answered();
      else health.failed();
      return ok;
    },
    close() {
      clearInterval(timer);
    },
  };

  // Start as if it had just answered: the engine was loaded (WASM) or will be
  // probed at once (OPA); a down OPA turns the gauge to 0 on the first probe.
  lastAnswer = performance.now() - graceMs;
  let probing = false;
  const tick = () => {
    // Half the interval: a timer tick that lands just short of a full interval would skip a probe.
    if (probing || performance.now() - lastOutcome < options.probeIntervalMs / 2) return;
    probing = true;
    health.probe().finally(() => {
      probing = false;
    });
  };
  const timer = options.probeIntervalMs > 0 ? setInterval(tick, options.probeIntervalMs) : undefined;
  timer?.unref();
  if (options.probeIntervalMs > 0) tick();
  return health;
}
