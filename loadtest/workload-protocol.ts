/**
 * What the harness and the generator process (generator.ts) say to each
 * other: the spec on the command line, then one RunCommand per stdin line,
 * answered by `{id, sample}` lines while it runs (when sampleEveryS is set)
 * and one `{id, result}` line at its end.
 */
import type { CpuWindow, Watch } from './proc.ts';

export type Workload = 'mcp-v1' | 'mcp-v2' | 'opa';

export interface GeneratorSpec {
  /** Endpoint: the MCP endpoint (direct, pass-through, SARK) or OPA's decision URL. */
  readonly url: string;
  readonly workload: Workload;
  /** Extra headers on every request (the API key). */
  readonly headers: Record<string, string>;
  /** OPA workload: the policy input, as SARK sends it. */
  readonly opaInput?: unknown;
  /** A successful answer contains this text ('"result"' for MCP). */
  readonly expect: string;
  /** Keep-alive connections in the generator's pool. */
  readonly connections: number;
  /** Past this a request counts as failed (undici headers/body timeouts). */
  readonly timeoutMs: number;
}

export interface RunCommand {
  readonly id: number;
  /** Requests per second, scheduled open-loop. */
  readonly rate: number;
  /** Seconds at the rate before the measured window (JIT, pools, caches); not recorded. */
  readonly warmupS: number;
  readonly durationS: number;
  /** Parties whose CPU and RSS are read over the measured window. */
  readonly watch: Watch;
  /** Soak: report RSS and the interval's latencies every so many seconds. */
  readonly sampleEveryS?: number;
}

export interface Latency {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface Sample {
  /** Seconds since the measured window opened. */
  readonly atS: number;
  readonly rssMiB: Record<string, number>;
  readonly ok: number;
  readonly errors: number;
  readonly latencyMs: Latency;
}

export interface RunResult {
  readonly rate: number;
  readonly durationS: number;
  /** Requests scheduled in the measured window. */
  readonly requests: number;
  readonly ok: number;
  readonly errors: number;
  /** By kind: http_<status>, refused (a JSON-RPC error or a deny), an undici error code, lost. */
  readonly errorKinds: Record<string, number>;
  readonly errorRate: number;
  /** Successful answers that arrived within the measured window, per second. */
  readonly achievedRate: number;
  /** Sends more than 5 ms late: the generator was short of CPU (latency still counts from the due time). */
  readonly lateSends: number;
  readonly latencyMs: Latency;
  /** CPU of each party over the window, per answer (success or failure) that arrived within it. */
  readonly cpu: CpuWindow | undefined;
  readonly answersInWindow: number;
  /**
   * The window on the machine's monotonic clock (CLOCK_MONOTONIC, µs): what V8 stamps CPU profile
   * samples with, so a profile can be cut to the measured window.
   */
  readonly windowClockUs: readonly [number, number];
  /** Messages this generator has sent the target so far, handshakes and warm-ups included. */
  readonly messagesSent: number;
  /** Each party's RSS over the window, sampled every second. */
  readonly rssMiB: Record<string, { mean: number; max: number }>;
  readonly samples: Sample[];
  /** Windows measured for this result (contention.ts keeps the least contended); 1 unless retried. */
  readonly attempts?: number;
}
