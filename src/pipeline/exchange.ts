/**
 * The state of one request as it travels through the stages: what the
 * listen stage took in (`intake`), then what each later stage adds. Plain
 * classes with fields, no per-request closures: a stage reads what earlier
 * stages wrote and writes its own part.
 */
import type { Caller, Verdict } from '../decide/authorize.ts';
import type { SarkError } from '../errors.ts';
import type { ForwardResult } from '../forward/upstream.ts';
import type { Identity } from '../identity/identity.ts';
import type { Intake, IntakeMessage } from '../listen/intake.ts';
import type { McpMessage } from '../mcp/classify.ts';
import type { JsonRpcId, JsonRpcMessage } from '../mcp/jsonrpc.ts';
import type { RequestSpan } from '../observe/tracing.ts';

/** One message of the request (one element of a batch, or the only one). */
export class Call {
  readonly index: number;
  readonly label: string;
  readonly msg: McpMessage | undefined;
  readonly id: JsonRpcId | null;
  /** A refusal by SARK itself: classification, the whole request's failure, an obligation it cannot apply. */
  refusal: SarkError | undefined;
  verdict: Verdict | undefined = undefined;
  /** The message to forward: the authorized one with its argument edits applied. */
  outbound: JsonRpcMessage | undefined = undefined;
  /** What the decide stage needs beyond the message model (an A2A request body). */
  readonly payload: unknown;
  /** The arguments as forwarded (after the decision's edits): the only ones the audit may keep. */
  arguments: Record<string, unknown> | undefined = undefined;

  constructor(index: number, m: IntakeMessage) {
    this.index = index;
    this.label = m.label;
    this.msg = m.msg;
    this.id = m.id;
    this.refusal = m.error;
    this.payload = m.payload;
  }

  /** Why the message is not forwarded, or undefined when it is. */
  get refused(): SarkError | undefined {
    return this.refusal ?? this.verdict?.refusal;
  }

  get isRequest(): boolean {
    return this.msg?.kind === 'request';
  }
}

export class Exchange {
  readonly intake: Intake;
  readonly calls: Call[];
  /** A refusal of the whole request (route, media type, parse, host, identity). */
  failure: SarkError | undefined;
  identity: Identity | undefined = undefined;
  caller: Caller | undefined = undefined;
  /** The upstream's answer (status, time to headers) or the error that replaced it. */
  upstream: ForwardResult | SarkError | undefined = undefined;
  /** performance.now() when the allowed messages were handed to the upstream (SARK's own time ends there). */
  forwardedAt: number | undefined = undefined;
  /** The request's trace span, when tracing is on. */
  span: RequestSpan | undefined = undefined;

  constructor(intake: Intake) {
    this.intake = intake;
    this.failure = intake.failure;
    const calls: Call[] = [];
    for (let i = 0; i < intake.messages.length; i++) calls.push(new Call(i, intake.messages[i]!));
    this.calls = calls;
  }

  get meta(): Intake['meta'] {
    return this.intake.meta;
  }

  get batch(): boolean {
    return this.intake.batch;
  }

  /** The only message of a request that is not a batch. */
  get single(): Call | undefined {
    return this.intake.batch ? undefined : this.calls[0];
  }
}
