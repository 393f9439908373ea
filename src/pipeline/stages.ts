/**
 * The stages every request goes through, whatever its transport, in order:
 *
 *   identity → decide → obligations → forward → record
 *
 * (listen and mcp run before, in the transport adapters, which turn a
 * request into an Intake.) Each stage is an object built once at start-up
 * whose `run` works on one request (`exchange` scope) or on one message of
 * it (`call` scope: a batch runs it per element with bounded concurrency).
 * A stage never throws into the runner: what fails becomes a refusal with a
 * catalogue code, and a refusal reaches `forward` (which answers it) and
 * `record` (which counts and audits it) like any other outcome.
 *
 * Obligations: each verdict's obligations name the stage they address.
 * `obligations` checks, before anything is forwarded, that every one of
 * them is one its stage implements, and refuses the message otherwise
 * (SARK_OBLIGATION_UNSUPPORTED); then it applies its own (argument edits).
 * `forward` applies its own through the answer plan; `record` its own.
 */
import type { A2aAuthorizer } from '../decide/a2a-authorize.ts';
import { type Authorizer, callerOf } from '../decide/authorize.ts';
import { applyArgumentEdit, type ObligationKind } from '../decide/obligations.ts';
import { SarkError } from '../errors.ts';
import { FORWARD_OBLIGATIONS } from '../forward/answer-plan.ts';
import type { ForwardResult } from '../forward/upstream.ts';
import type { Identity } from '../identity/identity.ts';
import type { IdentityStage as Identifier } from '../identity/stage.ts';
import type { Transport } from '../listen/intake.ts';
import type { JsonRpcMessage } from '../mcp/jsonrpc.ts';
import { type Logger, requestFields } from '../observe/logger.ts';
import type { SarkMetrics } from '../observe/metrics.ts';
import { traceIdOf } from '../observe/tracing.ts';
import type { AuditRecorder } from '../record/audit.ts';
import { auditEvents, RECORD_OBLIGATIONS } from '../record/facts.ts';
import type { Call, Exchange } from './exchange.ts';
import type { Port } from './ports.ts';

export type StageName = 'identity' | 'decide' | 'obligations' | 'forward' | 'record';

export type Stage =
  | { readonly name: StageName; readonly scope: 'exchange'; run(x: Exchange): void | Promise<void> }
  | { readonly name: StageName; readonly scope: 'call'; run(x: Exchange, call: Call): void | Promise<void> };

export class IdentityStage {
  readonly name = 'identity';
  readonly scope = 'exchange';
  readonly #identifier: Pick<Identifier, 'resolve'>;

  constructor(identifier: Pick<Identifier, 'resolve'>) {
    this.#identifier = identifier;
  }

  /** Synchronous for API keys, mesh, anonymous and known tokens; awaits only a token not verified before. */
  run(x: Exchange): void | Promise<void> {
    if (x.failure) return;
    const meta = x.intake.meta;
    const span = x.span?.child('sark.identity');
    let who: Identity | Promise<Identity>;
    try {
      who = this.#identifier.resolve({
        headers: x.intake.headers,
        remoteAddress: meta.clientAddress,
        path: meta.path,
        peerPrincipal: x.intake.peerPrincipal,
      });
    } catch (err) {
      x.failure = authFailure(err);
      span?.end(undefined, x.failure.code);
      return;
    }
    if (!(who instanceof Promise)) {
      span?.end({ 'sark.identity.type': who.type });
      return identified(x, who);
    }
    return who.then(
      (identity) => {
        span?.end({ 'sark.identity.type': identity.type });
        identified(x, identity);
      },
      (err) => {
        x.failure = authFailure(err);
        span?.end(undefined, x.failure.code);
      },
    );
  }
}

function identified(x: Exchange, identity: Identity): void {
  x.identity = identity;
  const claimed = x.intake.subject;
  // An entry point that names a subject (AuthZEN) may only ask about the caller itself.
  if (claimed !== undefined && claimed !== identity.id) {
    x.failure = new SarkError('SARK_SUBJECT_MISMATCH', {
      publicDetail: 'the subject must be the authenticated caller',
    });
    return;
  }
  x.caller = callerOf(identity, x.intake.meta, x.span);
}

function authFailure(err: unknown): SarkError {
  return err instanceof SarkError ? err : new SarkError('SARK_UNAUTHENTICATED', { detail: String(err), cause: err });
}

export class DecideStage {
  readonly name = 'decide';
  readonly scope = 'call';
  readonly #authorizer: Authorizer;
  readonly #a2a: A2aAuthorizer | undefined;

  constructor(authorizer: Authorizer, a2a?: A2aAuthorizer) {
    this.#authorizer = authorizer;
    this.#a2a = a2a;
  }

  async run(x: Exchange, call: Call): Promise<void> {
    if (x.failure || call.refusal || !call.msg || !x.caller) return;
    if (call.msg.action === 'a2a:call') {
      // Agent-to-agent requests have their own policy (sark/a2a/decision); none configured: refused.
      call.verdict = this.#a2a ? await this.#a2a.authorize(call.payload, x.caller) : undefined;
      if (!this.#a2a) call.refusal = new SarkError('SARK_NOT_FOUND', { publicDetail: 'no A2A policy here' });
      return;
    }
    call.verdict = await this.#authorizer.authorize(call.msg, x.caller);
  }
}

export class ObligationsStage {
  readonly name = 'obligations';
  readonly scope = 'call';
  readonly #handled: ReadonlyMap<string, ReadonlySet<ObligationKind>>;

  constructor() {
    this.#handled = new Map<string, ReadonlySet<ObligationKind>>([
      ['obligations', new Set<ObligationKind>(['edit_arguments'])],
      ['forward', FORWARD_OBLIGATIONS],
      ['record', RECORD_OBLIGATIONS],
    ]);
  }

  run(x: Exchange, call: Call): void {
    const v = call.verdict;
    const msg = call.msg;
    if (x.failure || call.refused || !v || !msg) return;
    let forward: JsonRpcMessage = msg.message;
    let args = msg.arguments;
    for (const o of v.obligations) {
      if (o.stage === undefined || !this.#handled.get(o.stage)?.has(o.kind)) {
        call.refusal = new SarkError('SARK_OBLIGATION_UNSUPPORTED', {
          publicDetail: `the decision asks for "${o.kind === 'unknown' ? o.name : o.kind}", which SARK does not implement`,
        });
        return;
      }
      if (o.kind === 'edit_arguments' && 'method' in forward) {
        args = applyArgumentEdit(msg.arguments, o.edit);
        forward = { ...forward, params: { ...forward.params, arguments: args } };
      }
    }
    call.outbound = forward;
    call.arguments = args;
  }
}

export class ForwardStage {
  readonly name = 'forward';
  readonly scope = 'exchange';
  readonly #ports: ReadonlyMap<Transport, Port>;

  constructor(ports: ReadonlyMap<Transport, Port>) {
    this.#ports = ports;
  }

  async run(x: Exchange): Promise<void> {
    const port = this.#ports.get(x.intake.transport);
    if (!port) throw new Error(`no port for transport ${x.intake.transport}`);
    await port.deliver(x);
  }
}

export class RecordStage {
  readonly name = 'record';
  readonly scope = 'exchange';
  readonly #recorder: AuditRecorder;
  readonly #metrics: SarkMetrics;
  readonly #logger: Logger | undefined;

  constructor(recorder: AuditRecorder, metrics: SarkMetrics, logger?: Logger) {
    this.#recorder = recorder;
    this.#metrics = metrics;
    this.#logger = logger;
  }

  run(x: Exchange): void {
    const m = this.#metrics;
    const t0 = x.meta.t0;
    if (this.#logger?.isLevelEnabled('debug')) this.#logRefusals(x);
    if (x.calls.length === 0) {
      // Refused before any message was read (route, media type, size, parse): counted, not audited.
      const e = x.failure ?? new SarkError('SARK_INTERNAL');
      m.errors.labels(e.kind.reason).inc();
      m.request.done({ method: x.intake.label, outcome: 'error', t0 });
      return;
    }
    const up = x.upstream;
    const failed = up instanceof SarkError ? up : undefined;
    if (failed) m.errors.labels(failed.kind.reason).inc();
    if (up !== undefined) {
      m.request.upstream(
        failed
          ? { failure: failed.code === 'SARK_UPSTREAM_TIMEOUT' ? 'timeout' : 'unavailable' }
          : (up as ForwardResult),
      );
    }
    for (const call of x.calls) {
      const refused = x.failure ?? call.refused;
      const outcome = refused === undefined ? (failed ? 'error' : 'allow') : call.verdict ? 'deny' : 'error';
      if (outcome === 'error' && refused) m.errors.labels(refused.kind.reason).inc();
      const msg = call.msg;
      m.request.done({
        method: call.label,
        outcome,
        t0,
        forwardedAt: refused === undefined ? x.forwardedAt : undefined,
        tool: msg?.method === 'tools/call' ? msg.name : undefined,
        // Long-lived streams are counted when they open, not timed.
        stream: msg?.action === 'gateway:stream:listen',
      });
      if (msg) for (const e of auditEvents(x, call)) this.#recorder.record(e);
    }
  }

  /** Debug only: what SARK refused before any policy decision, and why (never an argument or credential). */
  #logRefusals(x: Exchange): void {
    const fields = requestFields(x.meta.requestId, traceIdOf(x.span, x.intake.headers));
    const refusals = x.failure ? [x.failure] : x.calls.map((c) => c.refusal).filter((r) => r !== undefined);
    for (const r of refusals) this.#logger!.debug({ ...fields, code: r.code, detail: r.message }, 'request refused');
  }
}
