/**
 * Who owns a session or a task: one mechanism for the three kinds of
 * identifier a caller presents to reach state held for someone else.
 *
 * - `session`: a 2025 Streamable HTTP session (`mcp-session-id`), bound to
 *   the principal whose `initialize` the upstream answered with that id.
 * - `legacy`: a 2024-11-05 HTTP+SSE session, bound to the principal that
 *   opened the SSE stream, for as long as the stream stays open.
 * - `task`: an MCP task (2025-11-25, 2026-07-28), bound to the principal
 *   whose task-augmented request created it, with the answer obligations of
 *   that request so that its result is filtered the same way.
 *
 * MCP security best practices ("Session Hijacking") ask that a session be
 * bound to the user it was created for. A caller presenting an id it does
 * not own gets exactly what an unknown id gets, so ids cannot be probed.
 *
 * Entries live in an LRU bounded in count with a time to live (sessions:
 * sliding idle time; tasks: fixed; legacy: until the stream ends). With
 * Redis configured, sessions and tasks are also written there so that every
 * replica behind one Service agrees; an id no replica knows is refused
 * (fail closed: the client re-initializes).
 */
import { LRUCache } from 'lru-cache';
import type { Identity } from '../identity/identity.ts';
import type { Obligation } from './obligations.ts';
import type { RedisLink } from './redis.ts';

export type BindingKind = 'session' | 'legacy' | 'task';

export interface Binding {
  readonly principal: string;
  /** The answer obligations of the request that created a task (local only). */
  readonly answer: readonly Obligation[] | undefined;
  /** Whether the creating request's answer was filtered (also known to other replicas). */
  readonly filtered: boolean;
}

export interface BindingOptions {
  readonly maxEntries: number;
  readonly sessionIdleTtlMs: number;
  readonly taskTtlMs: number;
}

/** The principal a binding is keyed on: the same agent id under another auth method or tenant is someone else. */
export function principalOf(identity: Identity): string {
  return `${identity.authMethod}:${identity.tenant ?? ''}:${identity.id}`;
}

/** Sliding session lifetimes are pushed to Redis at most this often per session. */
const REMOTE_TOUCH_MS = 60_000;

export class Bindings {
  readonly #local: LRUCache<string, Binding>;
  readonly #ttlMs: Readonly<Record<BindingKind, number>>;
  readonly #redis: RedisLink | undefined;
  readonly #touched = new Map<string, number>();

  constructor(options: BindingOptions, redis?: RedisLink) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new TypeError(`bindings: maxEntries must be >= 1, got ${options.maxEntries}`);
    }
    // Bounded in count through maxSize (each binding counts 1), not `max`, which
    // would preallocate storage for every binding the sidecar may ever hold.
    this.#local = new LRUCache<string, Binding>({ maxSize: options.maxEntries, sizeCalculation: () => 1 });
    this.#ttlMs = { session: options.sessionIdleTtlMs, task: options.taskTtlMs, legacy: 0 };
    this.#redis = redis;
  }

  get size(): number {
    return this.#local.size;
  }

  /** Live bindings of one kind held here (read at a metrics scrape, never on the request path). */
  count(kind: BindingKind): number {
    const prefix = `${kind}:`;
    let n = 0;
    for (const key of this.#local.keys()) if (key.startsWith(prefix)) n++;
    return n;
  }

  bind(kind: BindingKind, id: string, principal: string, answer?: readonly Obligation[]): void {
    const ttl = this.#ttlMs[kind];
    const filtered = answer !== undefined && answer.length > 0;
    this.#local.set(`${kind}:${id}`, { principal, answer, filtered }, ttl > 0 ? { ttl } : {});
    if (kind !== 'legacy') this.#store(kind, id, principal, filtered);
  }

  /** Writes a binding to Redis, when it is up; a session bound while it was down is written on its next use. */
  #store(kind: BindingKind, id: string, principal: string, filtered: boolean): void {
    const redis = this.#redis;
    if (!redis?.ready) return;
    if (kind === 'session') this.#touched.set(id, Date.now());
    const ttl = this.#ttlMs[kind];
    redis.background('binding_set', () =>
      redis.client.set(this.#key(kind, id), filtered ? `${principal}\n1` : principal, 'PX', ttl),
    );
  }

  /**
   * The binding of `id`, or undefined when no replica knows it. Answers from
   * the local LRU synchronously; asks Redis (within its budget) otherwise.
   * A session's idle time restarts on every use.
   */
  lookup(kind: BindingKind, id: string): Binding | undefined | Promise<Binding | undefined> {
    const key = `${kind}:${id}`;
    const local = this.#local.get(key, kind === 'session' ? { updateAgeOnGet: true } : undefined);
    if (local !== undefined) {
      if (kind === 'session') this.#touchRemote(id, local);
      return local;
    }
    const redis = this.#redis;
    if (!redis?.ready || kind === 'legacy') return undefined;
    return this.#remote(kind, id, key, redis);
  }

  async #remote(kind: BindingKind, id: string, key: string, redis: RedisLink): Promise<Binding | undefined> {
    const value = await redis.within('binding_get', () => redis.client.get(this.#key(kind, id)));
    if (typeof value !== 'string' || value.length === 0) return undefined;
    const nl = value.indexOf('\n');
    const binding: Binding = {
      principal: nl === -1 ? value : value.slice(0, nl),
      answer: undefined,
      filtered: nl !== -1,
    };
    const ttl = this.#ttlMs[kind];
    this.#local.set(key, binding, ttl > 0 ? { ttl } : {});
    return binding;
  }

  /** Forgets a binding (session ended, stream closed) here and in Redis. */
  end(kind: BindingKind, id: string): void {
    this.#local.delete(`${kind}:${id}`);
    this.#touched.delete(id);
    const redis = this.#redis;
    if (redis?.ready && kind !== 'legacy') redis.background('binding_del', () => redis.client.del(this.#key(kind, id)));
  }

  /** Whether `principal` owns `id` according to the local LRU alone (tasks/list filtering; never awaits). */
  ownsLocally(kind: BindingKind, id: string, principal: string): boolean {
    return this.#local.get(`${kind}:${id}`)?.principal === principal;
  }

  #key(kind: BindingKind, id: string): string {
    return `${this.#redis?.prefix ?? ''}b:${kind}:${id}`;
  }

  /** Restarts the session's idle time in Redis too, at most once a minute; rewrites it if Redis never had it. */
  #touchRemote(id: string, binding: Binding): void {
    if (!this.#redis?.ready) return;
    const last = this.#touched.get(id);
    if (last !== undefined && Date.now() - last < REMOTE_TOUCH_MS) return;
    if (this.#touched.size >= this.#local.max) this.#touched.delete(this.#touched.keys().next().value!);
    this.#store('session', id, binding.principal, binding.filtered);
  }

  clear(): void {
    this.#local.clear();
    this.#touched.clear();
  }
}
