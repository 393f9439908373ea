/**
 * The agent-to-agent authorization request (POST /api/v1/gateway/authorize-a2a)
 * and the policy input built from it (opa/schemas/a2a_input.schema.json),
 * decided at A2A_DECISION_PATH.
 *
 * The caller is the agent that wants to call another: SARK's identity stage
 * authenticated it, and that Identity is the `source`, never anything in the
 * body. The body names the target (its id, and the agent card the caller
 * holds), the A2A operation, and for a message the skill when the caller
 * knows it, or the message, from which SARK infers one (agent-card.ts).
 *
 * @example
 * const body = a2aAuthorizeRequest.parse(json);           // 400 naming the field on error
 * const signature = body.target.card ? await verifyAgentCard(body.target.card, trustedKeys) : undefined;
 * const input = buildA2aInput(body, identity, { requestId, nowMs: Date.now() }, signature);
 * const decision = await decideA2a(input);                 // data.sark.a2a.decision
 */
import { z } from 'zod';
import type { Identity } from '../identity/identity.ts';
import {
  agentCardSchema,
  type CardFacts,
  type CardSignature,
  cardFacts,
  inferSkill,
  messagePartSchema,
} from './agent-card.ts';
import { agentDocument } from './input.ts';

/** The rule path of the agent-to-agent decision (opa/policies/a2a). */
export const A2A_DECISION_PATH = 'sark/a2a/decision';

export const A2A_INPUT_SCHEMA_VERSION = 2;

/** A2A v1.0 operations (JSON-RPC method names; the gRPC and REST bindings name the same). */
export const A2A_OPERATIONS = [
  'SendMessage',
  'SendStreamingMessage',
  'GetTask',
  'ListTasks',
  'CancelTask',
  'SubscribeToTask',
  'CreateTaskPushNotificationConfig',
  'GetTaskPushNotificationConfig',
  'ListTaskPushNotificationConfigs',
  'DeleteTaskPushNotificationConfig',
  'GetExtendedAgentCard',
] as const;
export type A2aOperation = (typeof A2A_OPERATIONS)[number];

/** Method names of A2A 0.3 and the v1.0 drafts, still sent by deployed agents, and what they are in v1.0. */
const LEGACY_OPERATIONS: Readonly<Record<string, A2aOperation>> = {
  'message/send': 'SendMessage',
  'message/stream': 'SendStreamingMessage',
  'tasks/get': 'GetTask',
  'tasks/list': 'ListTasks',
  'tasks/cancel': 'CancelTask',
  'tasks/resubscribe': 'SubscribeToTask',
  'tasks/pushNotificationConfig/set': 'CreateTaskPushNotificationConfig',
  'tasks/pushNotificationConfig/get': 'GetTaskPushNotificationConfig',
  'tasks/pushNotificationConfig/list': 'ListTaskPushNotificationConfigs',
  'tasks/pushNotificationConfig/delete': 'DeleteTaskPushNotificationConfig',
  'agent/getAuthenticatedExtendedCard': 'GetExtendedAgentCard',
  SetTaskPushNotificationConfig: 'CreateTaskPushNotificationConfig',
  ListTaskPushNotificationConfig: 'ListTaskPushNotificationConfigs',
};

const MESSAGE_OPERATIONS: ReadonlySet<A2aOperation> = new Set(['SendMessage', 'SendStreamingMessage']);

const id = z.string().min(1).max(256);

/** The request body of POST /api/v1/gateway/authorize-a2a. */
export const a2aAuthorizeRequest = z
  .object({
    operation: z
      .string()
      .max(128)
      .transform((v) => LEGACY_OPERATIONS[v] ?? v)
      .pipe(z.enum(A2A_OPERATIONS, { message: `expected an A2A operation: ${A2A_OPERATIONS.join(', ')}` })),
    target: z
      .object({
        id,
        /** The target's agent card as the caller holds it (A2A JSON, v1.0 or 0.3). */
        card: agentCardSchema.optional(),
      })
      .strict(),
    /** The skill a message is for, when the caller knows it: recorded as declared. */
    skill: id.optional(),
    /** The message (SendMessage, SendStreamingMessage): its parts let SARK infer the skill. */
    message: z
      .looseObject({
        parts: z.array(messagePartSchema).max(1024).optional(),
        taskId: id.optional(),
      })
      .optional(),
    /** The task the operation names (GetTask, CancelTask, …), or the one a message continues. */
    task_id: id.optional(),
  })
  .strict();
export type A2aAuthorizeRequest = z.infer<typeof a2aAuthorizeRequest>;

/** The a2a policy input (opa/schemas/a2a_input.schema.json). */
export interface A2aPolicyInput {
  readonly schema_version: number;
  readonly action: 'a2a:call';
  readonly operation: A2aOperation;
  readonly source: Record<string, unknown>;
  readonly target: { readonly id: string; readonly card: CardFacts | null };
  readonly skill: { readonly id: string; readonly source: 'declared' | 'inferred' } | null;
  readonly task: { readonly id: string } | null;
  readonly request: {
    readonly id: string;
    readonly time: { readonly unix_ms: number; readonly weekday: string; readonly hour_utc: number };
  };
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const NOT_SIGNED: CardSignature = Object.freeze({ present: false, verified: false, key_id: null });

/**
 * The policy input for a validated request from an authenticated caller.
 * Pure: `signature` is what verifyAgentCard found (absent: the card's
 * signatures, if any, count as not verified).
 */
export function buildA2aInput(
  body: A2aAuthorizeRequest,
  identity: Identity,
  request: { readonly requestId: string; readonly nowMs: number },
  signature?: CardSignature,
): A2aPolicyInput {
  const card = body.target.card;
  const sig = signature ?? (card?.signatures?.length ? { present: true, verified: false, key_id: null } : NOT_SIGNED);
  const now = new Date(request.nowMs);
  const taskId = body.task_id ?? body.message?.taskId;
  return {
    schema_version: A2A_INPUT_SCHEMA_VERSION,
    action: 'a2a:call',
    operation: body.operation,
    source: { ...agentDocument(identity), subject: identity.subject ?? null, issuer: identity.issuer ?? null },
    target: { id: body.target.id, card: card ? cardFacts(card, sig) : null },
    skill: skillOf(body),
    task: taskId === undefined ? null : { id: taskId },
    request: {
      id: request.requestId,
      time: { unix_ms: request.nowMs, weekday: WEEKDAYS[now.getUTCDay()]!, hour_utc: now.getUTCHours() },
    },
  };
}

/** Declared by the caller; else, for a message, inferred from the card; else none. */
function skillOf(body: A2aAuthorizeRequest): A2aPolicyInput['skill'] {
  if (body.skill !== undefined) return { id: body.skill, source: 'declared' };
  if (!MESSAGE_OPERATIONS.has(body.operation) || !body.target.card) return null;
  const inferred = inferSkill(body.target.card, body.message?.parts ?? []);
  return inferred === undefined ? null : { id: inferred, source: 'inferred' };
}
