/**
 * The obligations of a verdict: what later stages must do because of this
 * decision. Each obligation names the stage it addresses; that stage applies
 * it or refuses the message (fail closed). An obligation no stage knows —
 * a key under the decision's `obligations` object that SARK does not
 * implement — is refused by the obligations stage: SARK never forwards a
 * message whose decision asked for something it cannot do.
 *
 * From the decision document (opa/schemas/decision.schema.json):
 * - `obligations.arguments` → `edit_arguments` (obligations stage): start
 *   from `replace` when not null, remove the `drop` JSON Pointers (RFC 6901),
 *   overwrite the `redact` pointers with the placeholder. The forwarded and
 *   the audited arguments are both the edited ones.
 * - `visible_tools` → `filter_tools` (forward stage) for tools/list.
 * - `cache.ttl_seconds` → `cap_ttl` (forward stage) for 2026-07-28 list results.
 * - `audit.level` → `audit` (record stage).
 * The decide stage adds SARK's own (per-item list filters, session and task
 * bindings, subscription notification filters): see decide/authorize.ts.
 * A malformed obligation is a policy error: SARK_POLICY_MALFORMED, a deny.
 */
import { SarkError } from '../errors.ts';
import type { Decision } from './decision.ts';

export interface ArgumentEdit {
  readonly replace: Record<string, unknown> | null;
  readonly drop: readonly string[];
  readonly redact: readonly string[];
  readonly placeholder: string;
}

/** Lists whose items are each judged like the action that would use them. */
export type ItemList = 'prompts' | 'resources' | 'resourceTemplates';

/** Decides, for one caller, whether a listed item may be shown. */
export interface ItemJudge {
  visible(list: ItemList, item: Record<string, unknown>): Promise<boolean>;
}

/** Binds a task, once its id is known, to the caller with the answer obligations of the request that created it. */
export interface TaskBinder {
  bind(taskId: string): void;
}

export interface SessionBinder {
  bind(sessionId: string): void;
  end(sessionId: string): void;
}

export type AuditLevel = 'none' | 'basic' | 'full';

export type Obligation =
  | { readonly kind: 'edit_arguments'; readonly stage: 'obligations'; readonly edit: ArgumentEdit }
  | { readonly kind: 'filter_tools'; readonly stage: 'forward'; readonly visible: ReadonlySet<string> }
  | { readonly kind: 'filter_items'; readonly stage: 'forward'; readonly list: ItemList; readonly judge: ItemJudge }
  | { readonly kind: 'cap_ttl'; readonly stage: 'forward'; readonly maxTtlMs: number }
  | { readonly kind: 'filter_tasks'; readonly stage: 'forward'; readonly owned: (taskId: string) => boolean }
  | { readonly kind: 'bind_task'; readonly stage: 'forward'; readonly binder: TaskBinder }
  | { readonly kind: 'bind_session'; readonly stage: 'forward'; readonly binder: SessionBinder }
  | {
      readonly kind: 'end_session';
      readonly stage: 'forward';
      readonly binder: SessionBinder;
      readonly sessionId: string;
    }
  | { readonly kind: 'drop_notifications'; readonly stage: 'forward'; readonly covered: ReadonlySet<string> }
  | { readonly kind: 'audit'; readonly stage: 'record'; readonly level: AuditLevel }
  | { readonly kind: 'unknown'; readonly stage: undefined; readonly name: string };

export type ObligationKind = Obligation['kind'];

const POINTER = /^(\/([^~/]|~[01])*)+$/;
const KNOWN_OBLIGATION_KEYS = new Set(['arguments']);
const LIST_ACTIONS = new Set(['gateway:tools:list', 'gateway:resources:list', 'gateway:prompts:list']);
const NONE: readonly Obligation[] = Object.freeze([]);

function malformed(detail: string): SarkError {
  return new SarkError('SARK_POLICY_MALFORMED', { detail: `obligations: ${detail}` });
}

/**
 * Reads and validates the obligations of an allow decision for a message of
 * `action`. Throws SARK_POLICY_MALFORMED.
 */
export function obligationsOf(decision: Decision, action: string): readonly Obligation[] {
  const doc = decision.document;
  if (!doc) return NONE;
  let out: Obligation[] | undefined;
  const push = (o: Obligation) => {
    if (out === undefined) out = [];
    out.push(o);
  };
  const o = doc.obligations as Record<string, unknown> | undefined | null;
  if (o !== undefined && o !== null) {
    if (typeof o !== 'object' || Array.isArray(o)) throw malformed('"obligations" must be an object');
    const edit = argumentEdit(o.arguments);
    if (edit) push({ kind: 'edit_arguments', stage: 'obligations', edit });
    for (const key in o) {
      if (!KNOWN_OBLIGATION_KEYS.has(key) && o[key] !== null) push({ kind: 'unknown', stage: undefined, name: key });
    }
  }
  const v = doc.visible_tools;
  if (v !== undefined && v !== null) {
    if (!Array.isArray(v) || !v.every((t) => typeof t === 'string')) throw malformed('"visible_tools" must be strings');
    if (action === 'gateway:tools:list') push({ kind: 'filter_tools', stage: 'forward', visible: new Set(v) });
  }
  const c = doc.cache as { ttl_seconds?: unknown } | undefined | null;
  if (
    LIST_ACTIONS.has(action) &&
    c &&
    typeof c.ttl_seconds === 'number' &&
    Number.isFinite(c.ttl_seconds) &&
    c.ttl_seconds >= 0
  ) {
    push({ kind: 'cap_ttl', stage: 'forward', maxTtlMs: c.ttl_seconds * 1000 });
  }
  const level = auditLevelOf(doc);
  if (level !== 'basic') push({ kind: 'audit', stage: 'record', level });
  return out ?? NONE;
}

function argumentEdit(a: unknown): ArgumentEdit | undefined {
  if (a === undefined || a === null) return undefined;
  if (typeof a !== 'object' || Array.isArray(a)) throw malformed('"arguments" must be an object');
  const { replace = null, drop = [], redact = [], placeholder } = a as Partial<ArgumentEdit>;
  if (replace !== null && (typeof replace !== 'object' || Array.isArray(replace))) {
    throw malformed('"replace" must be an object or null');
  }
  if (!Array.isArray(drop) || !drop.every((p) => typeof p === 'string' && POINTER.test(p))) {
    throw malformed('"drop" must be JSON Pointers');
  }
  if (!Array.isArray(redact) || !redact.every((p) => typeof p === 'string' && POINTER.test(p))) {
    throw malformed('"redact" must be JSON Pointers');
  }
  if (replace === null && drop.length === 0 && redact.length === 0) return undefined;
  return { replace, drop, redact, placeholder: typeof placeholder === 'string' ? placeholder : '[REDACTED]' };
}

/**
 * The decision's `audit.level` (none | basic | full). Every decision is
 * recorded whatever the level; "full" adds the (edited, then redacted)
 * arguments. Anything else reads as "basic".
 */
export function auditLevelOf(document: Readonly<Record<string, unknown>> | undefined): AuditLevel {
  const audit = document?.audit as { level?: unknown } | undefined | null;
  const level = audit !== null && typeof audit === 'object' ? audit.level : undefined;
  return level === 'full' || level === 'none' ? level : 'basic';
}

/** Applies an argument edit; returns a new object, never mutates `args`. */
export function applyArgumentEdit(args: Record<string, unknown> | undefined, o: ArgumentEdit): Record<string, unknown> {
  const out = structuredClone(o.replace ?? args ?? {}) as Record<string, unknown>;
  for (const p of o.drop) removeAt(out, p);
  for (const p of o.redact) setIfPresent(out, p, o.placeholder);
  return out;
}

function tokens(pointer: string): string[] {
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(root: unknown, toks: string[]): unknown {
  let cur = root;
  for (let i = 0; i < toks.length - 1; i++) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[toks[i]!];
  }
  return cur;
}

function removeAt(root: Record<string, unknown>, pointer: string): void {
  const toks = tokens(pointer);
  const parent = parentOf(root, toks);
  const last = toks.at(-1)!;
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (Number.isInteger(i) && i >= 0 && i < parent.length) parent.splice(i, 1);
  } else if (parent !== null && typeof parent === 'object' && Object.hasOwn(parent, last)) {
    delete (parent as Record<string, unknown>)[last];
  }
}

function setIfPresent(root: Record<string, unknown>, pointer: string, value: unknown): void {
  const toks = tokens(pointer);
  const parent = parentOf(root, toks);
  const last = toks.at(-1)!;
  if (parent !== null && typeof parent === 'object' && Object.hasOwn(parent, last)) {
    (parent as Record<string, unknown>)[last] = value;
  }
}
