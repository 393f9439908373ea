/**
 * OPA over its Data API (POST /v1/data/<path>) through an undici keep-alive
 * pool. The deadline is undici's own per-request headers and body timeouts
 * (its coarse shared timers: no timer or AbortSignal of ours per decision,
 * which a CPU profile of the hot path showed); a late, failed, non-200 or
 * undecodable answer is a SARK_POLICY_* error, which the decide stage turns
 * into a deny.
 */
import { Pool, errors as undiciErrors } from 'undici';
import { SarkError } from '../errors.ts';
import type { EngineCallContext, PolicyEngine } from './engine.ts';
import type { PolicyInput } from './input.ts';

export interface OpaClientOptions {
  url: string;
  decisionPath: string;
  timeoutMs: number;
  connections: number;
}

export function createOpaEngine(options: OpaClientOptions): PolicyEngine {
  const base = new URL(options.url);
  const prefix = base.pathname.replace(/\/$/, '');
  const pool = new Pool(base.origin, {
    connections: options.connections,
    keepAliveTimeout: 30_000,
    connect: { timeout: Math.max(options.timeoutMs, 100) },
  });
  const dataPath = `${prefix}/v1/data/${options.decisionPath}`;
  const timeoutMs = options.timeoutMs;
  const headers = { 'content-type': 'application/json', accept: 'application/json' };

  async function evaluate(input: PolicyInput, trace?: EngineCallContext): Promise<unknown> {
    let status: number;
    let text: string;
    try {
      const res = await pool.request({
        path: dataPath,
        method: 'POST',
        // W3C traceparent when the request is traced, so OPA's own spans (distributed_tracing) join the trace.
        headers: trace ? { ...headers, ...trace } : headers,
        body: `{"input":${JSON.stringify(input)}}`,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
        throw new SarkError('SARK_POLICY_TIMEOUT', { detail: `no answer from OPA within ${timeoutMs} ms`, cause: err });
      }
      throw new SarkError('SARK_POLICY_UNAVAILABLE', {
        detail: `OPA request failed: ${(err as Error).message}`,
        cause: err,
      });
    }
    if (status !== 200) {
      throw new SarkError('SARK_POLICY_UNAVAILABLE', { detail: `OPA answered HTTP ${status}: ${text.slice(0, 200)}` });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new SarkError('SARK_POLICY_MALFORMED', { detail: 'OPA answered with invalid JSON', cause: err });
    }
    if (body === null || typeof body !== 'object') {
      throw new SarkError('SARK_POLICY_MALFORMED', { detail: 'OPA answered with a non-object' });
    }
    return (body as { result?: unknown }).result;
  }

  async function probe(): Promise<boolean> {
    try {
      const res = await pool.request({
        path: `${prefix}/health`,
        method: 'GET',
        signal: AbortSignal.timeout(Math.max(timeoutMs, 500)),
      });
      await res.body.dump();
      return res.statusCode === 200;
    } catch {
      return false;
    }
  }

  /** GET /v1/data/<path>: a data document (e.g. the tool catalogue for metric labels); undefined on any failure. */
  async function data(path: string): Promise<unknown> {
    try {
      const res = await pool.request({
        path: `${prefix}/v1/data/${path}`,
        method: 'GET',
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(Math.max(timeoutMs, 1000)),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return undefined;
      }
      return ((await res.body.json()) as { result?: unknown }).result;
    } catch {
      return undefined;
    }
  }

  return {
    name: 'opa',
    evaluate,
    probe,
    data,
    close: () => pool.close(),
  };
}
