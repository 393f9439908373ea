/**
 * Runs the declared stages over one request. The list is data, built once
 * at start-up (sidecar.ts); `run` is the only path from any transport
 * adapter to the upstream. Exchange-scoped stages run once; call-scoped
 * stages run once per message, a batch's elements with at most
 * `concurrency` in flight. A stage that throws (a bug: stages turn their
 * failures into refusals) refuses the whole request with SARK_INTERNAL, and
 * the stages that answer and record still run: nothing is forwarded that was
 * not decided, and nothing decided goes unrecorded.
 */
import { mapLimit } from '../decide/map-limit.ts';
import { SarkError } from '../errors.ts';
import type { Intake } from '../listen/intake.ts';
import { type Logger, requestFields } from '../observe/logger.ts';
import { disabledTracer, type Tracer, traceIdOf } from '../observe/tracing.ts';
import { Exchange } from './exchange.ts';
import type { Stage } from './stages.ts';

/** Stages that still run after another stage failed: they answer and record the failure. */
const ALWAYS: ReadonlySet<string> = new Set(['forward', 'record']);

export class Pipeline {
  readonly #stages: readonly Stage[];
  readonly #concurrency: number;
  readonly #logger: Logger;
  readonly #tracer: Tracer;

  constructor(stages: readonly Stage[], concurrency: number, logger: Logger, tracer: Tracer = disabledTracer) {
    const names = stages.map((s) => s.name).join(' → ');
    if (names !== 'identity → decide → obligations → forward → record') {
      throw new TypeError(`the pipeline's stages are out of order: ${names}`);
    }
    this.#stages = stages;
    this.#concurrency = concurrency;
    this.#logger = logger;
    this.#tracer = tracer;
  }

  /** The names of the stages in order (for the docs and a test). */
  get stageNames(): string[] {
    return this.#stages.map((s) => s.name);
  }

  /** Runs every stage over the request. Never rejects. */
  async run(intake: Intake): Promise<Exchange> {
    const x = new Exchange(intake);
    const meta = intake.meta;
    x.span = this.#tracer.startRequest(intake.headers, `${meta.httpMethod} ${meta.path}`, {
      'http.request.method': meta.httpMethod,
      'sark.request_id': meta.requestId,
      'sark.transport': meta.transport,
    });
    if (x.span && x.calls.length === 1) {
      const msg = x.calls[0]!.msg;
      x.span.setAttributes({
        'mcp.method.name': msg?.method,
        'gen_ai.tool.name': msg?.method === 'tools/call' ? msg.name : undefined,
      });
    }
    let broken = false;
    for (const stage of this.#stages) {
      if (broken && !ALWAYS.has(stage.name)) continue;
      try {
        if (stage.scope === 'exchange') await stage.run(x);
        else if (x.calls.length === 1) await stage.run(x, x.calls[0]!);
        else if (x.calls.length > 1)
          await mapLimit(x.calls, this.#concurrency, (c) => Promise.resolve(stage.run(x, c)));
      } catch (err) {
        this.#logger.error(
          {
            ...requestFields(meta.requestId, traceIdOf(x.span, intake.headers)),
            stage: stage.name,
            err: (err as Error)?.message,
            stack: (err as Error)?.stack,
          },
          'unexpected error in a pipeline stage; the request is refused',
        );
        if (!broken) {
          broken = true;
          x.failure = new SarkError('SARK_INTERNAL', { detail: `stage ${stage.name}`, cause: err });
        }
        // A failure while answering still leaves the client waiting: cut the connection.
        if (stage.name === 'forward' && intake.res && !intake.res.writableEnded) intake.res.destroy();
      }
    }
    x.span?.end({ 'http.response.status_code': intake.res?.statusCode }, x.failure?.code);
    return x;
  }
}
