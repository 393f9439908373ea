/**
 * Rewrites the answers to authorized requests as their decisions require:
 * a tools/list result keeps only the tools the caller may invoke, and a
 * filtered or policy-bounded 2026-07-28 list result is marked
 * `cacheScope: "private"` with `ttlMs` no longer than the decision's cache
 * lifetime, so a shared cache never serves one caller's view to another.
 *
 * A rewrite applies to the JSON-RPC response whose id is the request's id,
 * whether it comes as a JSON body, inside a JSON batch, or as one event of an
 * SSE stream (notifications and server requests on the stream pass as they
 * are).
 */
import type { Obligations } from '../decide/obligations.ts';
import type { McpMessage } from '../mcp/classify.ts';
import type { JsonRpcId } from '../mcp/jsonrpc.ts';

export type ResultRewrite = (result: Record<string, unknown>) => Record<string, unknown>;

/** Request id → how to rewrite its result. */
export type ResponsePlan = Map<JsonRpcId, ResultRewrite>;

const LIST_ACTIONS = new Set(['gateway:tools:list', 'gateway:resources:list', 'gateway:prompts:list']);

/** The rewrite an authorized request's result needs, or undefined for none. */
export function rewriteFor(msg: McpMessage, o: Obligations): ResultRewrite | undefined {
  if (msg.kind !== 'request') return undefined;
  const visible = msg.action === 'gateway:tools:list' ? o.visibleTools : undefined;
  const maxTtlMs = LIST_ACTIONS.has(msg.action) ? o.maxTtlMs : undefined;
  if (visible === undefined && maxTtlMs === undefined) return undefined;
  return (result) => {
    const out = { ...result };
    let narrowed = false;
    if (visible !== undefined && Array.isArray(out.tools)) {
      const kept = out.tools.filter(
        (t) => typeof (t as { name?: unknown })?.name === 'string' && visible.has((t as { name: string }).name),
      );
      narrowed = kept.length !== out.tools.length;
      out.tools = kept;
    }
    // 2026-07-28 results carry cache hints; a view that depends on the caller is private.
    if ('cacheScope' in out || 'ttlMs' in out) {
      if (visible !== undefined || narrowed) out.cacheScope = 'private';
      if (maxTtlMs !== undefined) {
        const ttl = typeof out.ttlMs === 'number' && out.ttlMs >= 0 ? out.ttlMs : maxTtlMs;
        out.ttlMs = Math.min(ttl, maxTtlMs);
      }
    }
    return out;
  };
}

/** Applies the plan to one parsed JSON-RPC message; returns undefined when nothing changed. */
export function rewriteMessage(plan: ResponsePlan, message: unknown): unknown {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return undefined;
  const m = message as { id?: JsonRpcId; result?: unknown; method?: unknown };
  if (m.method !== undefined || m.id === undefined || m.result === null || typeof m.result !== 'object')
    return undefined;
  const rewrite = plan.get(m.id);
  if (!rewrite) return undefined;
  return { ...m, result: rewrite(m.result as Record<string, unknown>) };
}

/** Applies the plan to a JSON body (one message or a batch); returns the new body or undefined. */
export function rewriteJsonBody(plan: ResponsePlan, body: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (Array.isArray(parsed)) {
    let changed = false;
    const out = parsed.map((m) => {
      const r = rewriteMessage(plan, m);
      if (r === undefined) return m;
      changed = true;
      return r;
    });
    return changed ? JSON.stringify(out) : undefined;
  }
  const r = rewriteMessage(plan, parsed);
  return r === undefined ? undefined : JSON.stringify(r);
}
