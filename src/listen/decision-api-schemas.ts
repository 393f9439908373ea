/**
 * The decision API's request and response bodies, defined once: zod
 * validates requests with them (a bad request is a 400 naming the field),
 * /api/v1/openapi.json is built from them, and docs/api.md is generated
 * from that document (npm run docs:api; a test regenerates and diffs it).
 */
import { z } from 'zod';

const name = z.string().min(1).max(1024);
const args = z.record(z.string(), z.unknown());

export const reasonSchema = z
  .object({ code: z.string().describe('Stable reason code (snake_case).'), message: z.string().optional() })
  .describe('Why the policy decided as it did.');

export const authorizeRequest = z
  .object({
    server: name
      .regex(/^[A-Za-z0-9._:-]+$/, 'expected letters, digits, . _ : -')
      .optional()
      .describe("The MCP server the call is for, as the policy knows it. Default: this sidecar's serverId."),
    method: name
      .regex(/^[A-Za-z0-9_./-]+$/, 'expected an MCP method such as tools/call')
      .default('tools/call')
      .describe('The MCP method (tools/call, tools/list, prompts/get, resources/read, …).'),
    tool: name.optional().describe('The tool, for tools/call.'),
    name: name
      .optional()
      .describe(
        'The target of other methods: the prompt (prompts/get), resource URI (resources/read), task id (tasks/*).',
      ),
    arguments: args.optional().describe('The tool or prompt arguments.'),
    params: args
      .optional()
      .describe('The JSON-RPC params as the MCP client would send them; overrides tool, name and arguments.'),
    protocol_version: z
      .enum(['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28'])
      .default('2025-11-25')
      .describe('The MCP protocol revision of the call (its era decides which policy rules apply).'),
  })
  .strict()
  .describe('May the authenticated caller make this MCP call?');

export const obligationSchema = z
  .object({ kind: z.string(), stage: z.string() })
  .catchall(z.unknown())
  .describe('An obligation the caller (the enforcement point) must apply to the call or its answer.');

export const authorizeResponse = z
  .object({
    request_id: z.string().describe('Also in the audit row (http_request_id).'),
    decision: z.enum(['allow', 'deny']),
    allow: z.boolean(),
    reasons: z.array(reasonSchema),
    code: z.string().optional().describe('The SARK_* code of a deny.'),
    message: z.string().optional().describe('Text safe to show the caller.'),
    arguments: args
      .optional()
      .describe("The arguments to forward: the decision's edits (drop, redact, replace) applied."),
    obligations: z.array(obligationSchema),
    required_scopes: z.array(z.string()).optional().describe('Step-up: the OAuth scopes the call needs.'),
    cache: z
      .object({ ttl_seconds: z.number(), scope: z.string() })
      .nullable()
      .describe('How long the enforcement point may reuse this decision, and what it is keyed on.'),
    policy_revision: z.string().nullable(),
  })
  .describe('The decision, with what an enforcement point must apply.');

const entity = z.object({
  type: z.string().min(1).max(128),
  id: z.string().min(1).max(1024),
  properties: args.optional(),
});

export const evaluationRequest = z
  .object({
    subject: entity
      .optional()
      .describe(
        "The calling principal. When present its id must be the authenticated caller's (no asking for others).",
      ),
    action: z.object({ name: name.describe('The MCP method, e.g. tools/call.'), properties: args.optional() }),
    resource: entity.describe(
      'The MCP target: type mcp_tool, mcp_prompt, mcp_resource or mcp_server; properties.server names the server, properties.arguments the arguments.',
    ),
    context: args.optional(),
  })
  .strict()
  .describe('OpenID AuthZEN 1.0 access evaluation, MCP profile.');

export const evaluationResponse = z.object({
  decision: z.boolean(),
  context: z
    .object({ id: z.string(), reason_admin: args.optional(), reason_user: args.optional() })
    .catchall(z.unknown()),
});

export const evaluationsRequest = z
  .object({
    subject: entity.optional(),
    action: z.object({ name, properties: args.optional() }).optional(),
    resource: entity.optional(),
    context: args.optional(),
    evaluations: z
      .array(
        z
          .object({
            subject: entity.optional(),
            action: z.object({ name, properties: args.optional() }).optional(),
            resource: entity.optional(),
            context: args.optional(),
          })
          .strict(),
      )
      .min(1)
      .max(100)
      .describe('Each evaluation; missing members are taken from the top level (AuthZEN defaults).'),
  })
  .strict()
  .describe('OpenID AuthZEN 1.0 access evaluations (several at once).');

export const evaluationsResponse = z.object({ evaluations: z.array(evaluationResponse) });

export const serversResponse = z
  .object({ request_id: z.string(), servers: z.array(z.object({ id: z.string() }).catchall(z.unknown())) })
  .describe('The servers the caller may see: those where it could call at least one tool now.');

export const toolsQuery = z
  .object({ server: name.regex(/^[A-Za-z0-9._:-]+$/, 'expected letters, digits, . _ : -').optional() })
  .strict();

export const toolsResponse = z
  .object({
    request_id: z.string(),
    server: z.string(),
    tools: z.array(z.object({ name: z.string() }).catchall(z.unknown())),
  })
  .describe('The tools of one server the caller may call: exactly those tools/list shows it.');

const FILTER = /^[A-Za-z0-9._:@/+-]{1,256}$/;
const filter = z.string().regex(FILTER, 'expected up to 256 letters, digits or . _ : @ / + -');

export const auditQuery = z
  .object({
    from: z.coerce.number().int().min(0).optional().describe('Earliest decision time, unix ms (inclusive).'),
    to: z.coerce.number().int().min(0).optional().describe('Latest decision time, unix ms (exclusive).'),
    agent: filter.optional(),
    server: filter.optional(),
    tool: filter.optional(),
    decision: z.enum(['allow', 'deny']).optional(),
    reason: filter.optional().describe('Rows whose reasons include this code.'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    cursor: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,200}$/, 'expected the next_cursor of a previous page')
      .optional()
      .describe('next_cursor from the previous page.'),
  })
  .strict();

export const auditResponse = z.object({
  rows: z.array(z.record(z.string(), z.unknown())),
  next_cursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last page.'),
});

export const errorResponse = z
  .object({
    error: z.object({
      code: z.string().describe('The SARK_* code.'),
      message: z.string(),
      field: z.string().optional().describe('The request field that is wrong.'),
    }),
    request_id: z.string().optional(),
  })
  .describe('Every error of the decision API.');

export type AuthorizeRequest = z.infer<typeof authorizeRequest>;
export type EvaluationRequest = z.infer<typeof evaluationRequest>;
export type EvaluationsRequest = z.infer<typeof evaluationsRequest>;
export type AuditQuery = z.infer<typeof auditQuery>;
