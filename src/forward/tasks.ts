/**
 * Task binding (MCP tasks, 2025-11-25 and 2026-07-28): a task belongs to the
 * agent whose task-augmented request created it. SARK learns the task id from
 * the CreateTaskResult it relays, and from then on only that agent may get,
 * cancel or fetch the result of the task; its result is rewritten like the
 * answer of the call that made it, and tasks/list shows an agent its own tasks
 * only. Bindings are bounded in number and age; an unknown task (created
 * around SARK, or forgotten) is refused: fail closed.
 */
import type { ResultRewrite } from './result-filter.ts';

interface Binding {
  readonly agentId: string;
  readonly rewrite: ResultRewrite | undefined;
  readonly expiresMs: number;
}

export class TaskBindings {
  readonly #bindings = new Map<string, Binding>();
  readonly #maxEntries: number;
  readonly #ttlMs: number;

  constructor(maxEntries = 100_000, ttlMs = 24 * 3600_000) {
    this.#maxEntries = maxEntries;
    this.#ttlMs = ttlMs;
  }

  bind(taskId: string, agentId: string, rewrite: ResultRewrite | undefined): void {
    this.#bindings.delete(taskId);
    this.#bindings.set(taskId, { agentId, rewrite, expiresMs: Date.now() + this.#ttlMs });
    // Map iteration order is insertion order: the first key is the oldest.
    while (this.#bindings.size > this.#maxEntries) this.#bindings.delete(this.#bindings.keys().next().value!);
  }

  get(taskId: string): Binding | undefined {
    const b = this.#bindings.get(taskId);
    if (b && b.expiresMs < Date.now()) {
      this.#bindings.delete(taskId);
      return undefined;
    }
    return b;
  }

  /** Wraps the creating call's rewrite so that a CreateTaskResult binds the task to `agentId`. */
  binder(agentId: string, rewrite: ResultRewrite | undefined): ResultRewrite {
    return (result) => {
      const task = result.task as { taskId?: unknown } | undefined;
      if (task && typeof task.taskId === 'string') {
        this.bind(task.taskId, agentId, rewrite);
        return result;
      }
      return rewrite ? rewrite(result) : result;
    };
  }

  /** tasks/list: only the caller's own tasks. */
  listFilter(agentId: string): ResultRewrite {
    return (result) => {
      if (!Array.isArray(result.tasks)) return result;
      return {
        ...result,
        tasks: result.tasks.filter((t) => {
          const id = (t as { taskId?: unknown })?.taskId;
          return typeof id === 'string' && this.get(id)?.agentId === agentId;
        }),
      };
    };
  }
}
