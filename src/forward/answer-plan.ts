/**
 * What the forward stage must do to the answers of one request: the
 * obligations its verdicts address to `forward`, matched to the answers by
 * JSON-RPC id. Ids are unique within a request (the listen stage refuses a
 * batch that repeats one), so a rewrite can never be applied to, or withheld
 * from, the wrong answer.
 *
 * - `filter_tools`: a tools/list result keeps only the tools the policy
 *   lists as visible;
 * - `filter_items`: a prompts/list, resources/list or
 *   resources/templates/list result keeps only the items the caller could
 *   get or read, each decided by the policy exactly as that request would be;
 * - `cap_ttl`: a 2026-07-28 list result keeps `ttlMs` within the decision's
 *   cache lifetime, and a filtered one is marked `cacheScope: "private"`, so
 *   a shared cache never serves one caller's view to another;
 * - `filter_tasks`: tasks/list shows the caller its own tasks only;
 * - `bind_task`: a CreateTaskResult binds the task to the caller;
 * - `bind_session` / `end_session`: the upstream's `mcp-session-id` header
 *   binds the session to the caller, a successful DELETE ends it;
 * - `drop_notifications`: resource updates the caller may not read are
 *   dropped from a subscription's stream.
 */

import { mapLimit } from '../decide/map-limit.ts';
import type { ItemList, Obligation, ObligationKind, SessionBinder } from '../decide/obligations.ts';
import type { JsonRpcId } from '../mcp/jsonrpc.ts';

/** The obligation kinds this stage applies; any other addressed to it is refused before forwarding. */
export const FORWARD_OBLIGATIONS: ReadonlySet<ObligationKind> = new Set<ObligationKind>([
  'filter_tools',
  'filter_items',
  'cap_ttl',
  'filter_tasks',
  'bind_task',
  'bind_session',
  'end_session',
  'drop_notifications',
]);

/** Items of one listed result judged at once. */
const ITEM_CONCURRENCY = 8;
const LIST_FIELD: Readonly<Record<ItemList, string>> = {
  prompts: 'prompts',
  resources: 'resources',
  resourceTemplates: 'resourceTemplates',
};

type Result = Record<string, unknown>;

interface JsonRpcAnswer {
  readonly id?: JsonRpcId;
  readonly method?: unknown;
  readonly result?: unknown;
  readonly params?: Record<string, unknown>;
}

export class AnswerPlan {
  readonly #byId = new Map<JsonRpcId, readonly Obligation[]>();
  readonly #session: { binder: SessionBinder; end: string | undefined }[] = [];
  readonly #answered = new Set<JsonRpcId>();
  #covered: ReadonlySet<string> | undefined;
  #rewritesBodies = false;

  /** Adds the forward obligations of the message with `id` (null for bodiless requests). */
  add(id: JsonRpcId | null, obligations: readonly Obligation[]): void {
    let forBody: Obligation[] | undefined;
    for (const o of obligations) {
      switch (o.kind) {
        case 'bind_session':
          this.#session.push({ binder: o.binder, end: undefined });
          break;
        case 'end_session':
          this.#session.push({ binder: o.binder, end: o.sessionId });
          break;
        case 'drop_notifications':
          this.#covered = o.covered;
          this.#rewritesBodies = true;
          break;
        default:
          if (o.stage !== 'forward') break;
          if (forBody === undefined) forBody = [];
          forBody.push(o);
      }
    }
    if (forBody !== undefined && id !== null) {
      this.#byId.set(id, forBody);
      this.#rewritesBodies = true;
    }
  }

  /** Whether the answer's body must be read and possibly rewritten (else it may stream through untouched). */
  get rewritesBodies(): boolean {
    return this.#rewritesBodies;
  }

  /** Whether the plan rewrites the answer to request `id`. */
  has(id: JsonRpcId): boolean {
    return this.#byId.has(id);
  }

  /** The request ids whose answers this plan rewrites and that are not answered yet. */
  get pendingIds(): JsonRpcId[] {
    return [...this.#byId.keys()].filter((id) => !this.#answered.has(id));
  }

  /** Session obligations, applied when the upstream's headers arrive. */
  onHeaders(status: number, sessionId: string | undefined): void {
    const ok = status >= 200 && status < 300;
    for (const s of this.#session) {
      if (s.end !== undefined) {
        // The session is over when the server says so, or when it no longer knows it.
        if (ok || status === 404) s.binder.end(s.end);
      } else if (sessionId !== undefined && ok) {
        s.binder.bind(sessionId);
      }
    }
  }

  /** Legacy transport: the session id arrives in the stream's endpoint event, and ends with the stream. */
  bindSession(sessionId: string): void {
    for (const s of this.#session) if (s.end === undefined) s.binder.bind(sessionId);
  }

  endSession(sessionId: string): void {
    for (const s of this.#session) if (s.end === undefined) s.binder.end(sessionId);
  }

  /**
   * The message the client gets for one message of the answer: the same
   * object when nothing applies, a rewritten copy, or undefined to drop it
   * (a notification the caller may not see).
   */
  rewrite(message: unknown): unknown | Promise<unknown> {
    if (message === null || typeof message !== 'object' || Array.isArray(message)) return message;
    const m = message as JsonRpcAnswer;
    if (typeof m.method === 'string') {
      if (
        m.id === undefined &&
        this.#covered !== undefined &&
        m.method === 'notifications/resources/updated' &&
        !this.#covered.has(String(m.params?.uri ?? ''))
      ) {
        return undefined;
      }
      return message;
    }
    if (m.id === undefined || m.result === null || typeof m.result !== 'object' || Array.isArray(m.result)) {
      return message;
    }
    const obligations = this.#byId.get(m.id);
    if (obligations === undefined) return message;
    this.#answered.add(m.id);
    const out = applyToResult(obligations, m.result as Result);
    if (out instanceof Promise) return out.then((result) => ({ ...m, result }));
    return out === m.result ? message : { ...m, result: out };
  }
}

function applyToResult(obligations: readonly Obligation[], result: Result): Result | Promise<Result> {
  let out = result;
  let filtered = false;
  let judged: { list: ItemList; judge: Extract<Obligation, { kind: 'filter_items' }>['judge'] } | undefined;
  let maxTtlMs: number | undefined;
  for (const o of obligations) {
    switch (o.kind) {
      case 'filter_tools':
        if (Array.isArray(out.tools)) {
          out = {
            ...out,
            tools: out.tools.filter((t) => {
              const name = (t as { name?: unknown } | null)?.name;
              return typeof name === 'string' && o.visible.has(name);
            }),
          };
        }
        filtered = true;
        break;
      case 'filter_items':
        judged = { list: o.list, judge: o.judge };
        filtered = true;
        break;
      case 'filter_tasks':
        if (Array.isArray(out.tasks)) {
          out = {
            ...out,
            tasks: out.tasks.filter((t) => {
              const id = (t as { taskId?: unknown } | null)?.taskId;
              return typeof id === 'string' && o.owned(id);
            }),
          };
        }
        filtered = true;
        break;
      case 'bind_task': {
        // A CreateTaskResult: bind the task, and its result is filtered when fetched (tasks/result).
        const task = out.task as { taskId?: unknown } | undefined;
        if (task !== null && typeof task === 'object' && typeof task.taskId === 'string') {
          o.binder.bind(task.taskId);
          return out;
        }
        break;
      }
      case 'cap_ttl':
        maxTtlMs = o.maxTtlMs;
        break;
    }
  }
  if (judged !== undefined)
    return filterItems(out, judged.list, judged.judge).then((r) => cacheHints(r, true, maxTtlMs));
  return cacheHints(out, filtered, maxTtlMs);
}

async function filterItems(
  result: Result,
  list: ItemList,
  judge: Extract<Obligation, { kind: 'filter_items' }>['judge'],
): Promise<Result> {
  const field = LIST_FIELD[list];
  const items = result[field];
  if (!Array.isArray(items)) return result;
  const keep = await mapLimit(items, ITEM_CONCURRENCY, (item) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? judge.visible(list, item as Record<string, unknown>)
      : Promise.resolve(false),
  );
  return { ...result, [field]: items.filter((_, i) => keep[i]) };
}

/** 2026-07-28 results carry cache hints; a view that depends on the caller is private. */
function cacheHints(result: Result, filtered: boolean, maxTtlMs: number | undefined): Result {
  if (!('cacheScope' in result) && !('ttlMs' in result)) return result;
  const out = { ...result };
  if (filtered) out.cacheScope = 'private';
  if (maxTtlMs !== undefined) {
    const ttl = typeof out.ttlMs === 'number' && out.ttlMs >= 0 ? out.ttlMs : maxTtlMs;
    out.ttlMs = Math.min(ttl, maxTtlMs);
  }
  return out;
}
