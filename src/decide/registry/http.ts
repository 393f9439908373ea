/**
 * GET calls to the MCP Gateway Registry: an undici keep-alive pool, bearer
 * auth, a deadline per attempt covering headers and body, a cap on the body
 * size, retries with exponential backoff and full jitter, and an opossum
 * circuit breaker. Only GET is ever sent, so every call is idempotent and
 * safe to retry (RFC 9110 §9.2.2); there is no other method to guard.
 *
 * Why a retry loop here and not undici's RetryAgent: its backoff has no
 * jitter, and a fleet of sidecars refreshing on the same schedule would
 * retry against a recovering registry in lockstep ("full jitter", AWS
 * Architecture Blog, "Exponential Backoff And Jitter").
 *
 * The breaker wraps each attempt. Timeouts, resets, 429 and 5xx count as
 * failures; 404 and other 4xx are answers, not outages. Open, it refuses at
 * once (outcome `breaker_open`, not retried) until `resetMs` passes and one
 * attempt probes.
 */
import CircuitBreaker from 'opossum';
import { Pool, errors as undiciErrors } from 'undici';
import { SarkError } from '../../errors.ts';
import type { Logger } from '../../observe/logger.ts';
import type { RegistryMetrics } from '../../observe/metrics.ts';

export type RegistryEndpoint = 'servers' | 'server_details' | 'tools';

/** How one call ended: the `outcome` label of sark_registry_requests_total. */
export type CallOutcome =
  | 'ok'
  | 'not_found'
  | 'http_4xx'
  | 'throttled'
  | 'http_5xx'
  | 'timeout'
  | 'network'
  | 'too_large'
  | 'malformed'
  | 'breaker_open';

const RETRYABLE: ReadonlySet<CallOutcome> = new Set(['throttled', 'http_5xx', 'timeout', 'network']);
/** Answers, not outages: the breaker does not count them. */
const NOT_FAILURES: ReadonlySet<CallOutcome> = new Set(['not_found', 'http_4xx']);

export interface RegistryHttpOptions {
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly maxResponseBytes: number;
  readonly connections: number;
  readonly breakerResetMs: number;
  /** For tests: the jitter source (Math.random) and the wait between attempts. */
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A failed call: a catalogue error whose data names the outcome (and the status, when there was one). */
export function callError(outcome: CallOutcome, detail: string, extra: Record<string, unknown> = {}): SarkError {
  const code =
    outcome === 'malformed' || outcome === 'too_large' ? 'SARK_REGISTRY_MALFORMED' : 'SARK_REGISTRY_UNAVAILABLE';
  return new SarkError(code, { detail, data: { outcome, ...extra } });
}

export function outcomeOf(err: unknown): CallOutcome {
  const o = (err as SarkError | undefined)?.data?.outcome;
  return typeof o === 'string' ? (o as CallOutcome) : 'network';
}

function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined) return undefined;
  const seconds = Number(v);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;

export class RegistryHttp {
  readonly #o: RegistryHttpOptions;
  readonly #pool: Pool;
  readonly #prefix: string;
  readonly #headers: Record<string, string>;
  readonly #breaker: CircuitBreaker<[string], unknown>;
  readonly #metrics: RegistryMetrics;
  readonly #random: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: RegistryHttpOptions, metrics: RegistryMetrics, logger: Logger) {
    for (const k of ['timeoutMs', 'retryBaseMs', 'retryMaxMs', 'maxResponseBytes', 'connections', 'breakerResetMs']) {
      const v = options[k as keyof RegistryHttpOptions];
      if (!Number.isInteger(v) || (v as number) <= 0)
        throw new TypeError(`registry option ${k} must be a positive integer`);
    }
    if (!Number.isInteger(options.retries) || options.retries < 0) {
      throw new TypeError('registry option retries must be a non-negative integer');
    }
    const base = new URL(options.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError('registry url must be http(s)');
    this.#o = options;
    this.#prefix = base.pathname.replace(/\/+$/, '');
    this.#pool = new Pool(base.origin, {
      connections: options.connections,
      keepAliveTimeout: 30_000,
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    this.#headers = {
      accept: 'application/json',
      'user-agent': 'sark-registry-client',
      ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    };
    this.#metrics = metrics;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
    this.#breaker = new CircuitBreaker((path: string) => this.#attempt(path), {
      timeout: false,
      errorThresholdPercentage: 50,
      volumeThreshold: 5,
      rollingCountTimeout: 60_000,
      rollingCountBuckets: 10,
      resetTimeout: options.breakerResetMs,
      errorFilter: (err: unknown) => NOT_FAILURES.has(outcomeOf(err)),
    });
    metrics.breakerState.set(BREAKER_STATE.closed);
    this.#breaker.on('open', () => {
      metrics.breakerState.set(BREAKER_STATE.open);
      logger.warn({ resetMs: options.breakerResetMs }, 'registry circuit breaker open: registry calls refused');
    });
    this.#breaker.on('halfOpen', () => metrics.breakerState.set(BREAKER_STATE.half_open));
    this.#breaker.on('close', () => {
      metrics.breakerState.set(BREAKER_STATE.closed);
      logger.info({}, 'registry circuit breaker closed');
    });
  }

  /**
   * GETs `path` (with its query) below the registry URL and returns the parsed
   * JSON body of a 200 answer. Throws a SARK_REGISTRY_* error otherwise.
   */
  async getJson(endpoint: RegistryEndpoint, path: string): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      let outcome: CallOutcome;
      let err: unknown;
      try {
        const body = await this.#breaker.fire(path);
        this.#metrics.requests.labels(endpoint, 'ok').inc();
        return body;
      } catch (e) {
        err =
          (e as { code?: string }).code === 'EOPENBREAKER'
            ? callError('breaker_open', 'the registry circuit breaker is open')
            : e;
        outcome = outcomeOf(err);
      }
      this.#metrics.requests.labels(endpoint, outcome).inc();
      if (!RETRYABLE.has(outcome) || attempt >= this.#o.retries) throw err;
      await this.#sleep(this.#backoffMs(attempt, (err as SarkError).data?.retryAfterMs as number | undefined));
    }
  }

  /** Full jitter: uniform in [0, min(max, base·2^attempt)]; a Retry-After raises it, up to max. */
  #backoffMs(attempt: number, retryAfter: number | undefined): number {
    const ceiling = Math.min(this.#o.retryMaxMs, this.#o.retryBaseMs * 2 ** attempt);
    const jittered = Math.floor(this.#random() * ceiling);
    return retryAfter === undefined ? jittered : Math.max(jittered, Math.min(retryAfter, this.#o.retryMaxMs));
  }

  async #attempt(path: string): Promise<unknown> {
    const timeoutMs = this.#o.timeoutMs;
    const signal = AbortSignal.timeout(timeoutMs);
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await this.#pool.request({ path: `${this.#prefix}${path}`, method: 'GET', headers: this.#headers, signal });
    } catch (err) {
      throw this.#transportError(err, signal);
    }
    const status = res.statusCode;
    if (status !== 200) {
      await res.body.dump().catch(() => undefined);
      if (status === 404) throw callError('not_found', `${path}: HTTP 404`, { status });
      if (status === 429) {
        throw callError('throttled', `${path}: HTTP 429`, {
          status,
          retryAfterMs: retryAfterMs(res.headers['retry-after']),
        });
      }
      if (status >= 500) {
        throw callError('http_5xx', `${path}: HTTP ${status}`, {
          status,
          retryAfterMs: retryAfterMs(res.headers['retry-after']),
        });
      }
      throw callError('http_4xx', `${path}: HTTP ${status}`, { status });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > this.#o.maxResponseBytes) {
          res.body.destroy();
          throw callError('too_large', `${path}: the body exceeds ${this.#o.maxResponseBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof SarkError) throw err;
      throw this.#transportError(err, signal);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      throw callError('malformed', `${path}: the body is not JSON (${(err as Error).message})`);
    }
  }

  #transportError(err: unknown, signal: AbortSignal): SarkError {
    const timedOut =
      signal.aborted ||
      err instanceof undiciErrors.HeadersTimeoutError ||
      err instanceof undiciErrors.BodyTimeoutError ||
      err instanceof undiciErrors.ConnectTimeoutError;
    return timedOut
      ? callError('timeout', `no complete answer within ${this.#o.timeoutMs} ms`)
      : callError('network', (err as Error)?.message ?? String(err));
  }

  async close(): Promise<void> {
    this.#breaker.shutdown();
    await this.#pool.close();
  }
}
