/**
 * The decision API as an OpenAPI 3.1 document, built from the same zod
 * schemas that validate its requests (decision-api-schemas.ts), so the
 * document cannot drift from what the server accepts. Served at
 * /api/v1/openapi.json; docs/api.md is generated from it.
 */
import { z } from 'zod';
import { a2aAuthorizeRequest } from '../decide/a2a-input.ts';
import * as s from '../listen/decision-api-schemas.ts';

type Json = Record<string, unknown>;

function schema(t: z.ZodType, io: 'input' | 'output' = 'output'): Json {
  const out = z.toJSONSchema(t, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

function queryParameters(t: z.ZodObject): Json[] {
  const js = schema(t, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, p]) => ({
    name,
    in: 'query',
    required: js.required?.includes(name) ?? false,
    ...(typeof p.description === 'string' ? { description: p.description } : {}),
    schema: p,
  }));
}

const errors = {
  '400': { description: 'A bad request; `error.field` names the field.', content: json('Error') },
  '401': { description: 'No valid credentials (with a WWW-Authenticate challenge).', content: json('Error') },
  '403': { description: 'The caller may not ask this (subject mismatch; step-up).', content: json('Error') },
};

function json(ref: string): Json {
  return { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } };
}

function body(ref: string): Json {
  return { required: true, content: json(ref) };
}

export function openApiDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'SARK decision API',
      version: '1',
      description:
        'Ask SARK for a decision about an MCP call without making it. Every endpoint goes through the same identity, policy, obligation and audit stages as the MCP listener. Authenticate as for MCP (Authorization: Bearer <token or API key>, X-API-Key).',
    },
    security: [{ bearer: [] }, { apiKey: [] }],
    paths: {
      '/api/v1/gateway/authorize': {
        post: {
          summary: 'May the caller make this MCP call?',
          requestBody: body('AuthorizeRequest'),
          responses: {
            '200': { description: 'The decision (allow or deny).', content: json('AuthorizeResponse') },
            ...errors,
          },
        },
      },
      '/api/v1/gateway/authorize-a2a': {
        post: {
          summary: 'May the caller (an agent) make this A2A call to another agent?',
          requestBody: body('A2aAuthorizeRequest'),
          responses: {
            '200': { description: 'The decision (allow or deny).', content: json('AuthorizeResponse') },
            ...errors,
          },
        },
      },
      '/access/v1/evaluation': {
        post: {
          summary: 'OpenID AuthZEN 1.0 access evaluation (MCP profile).',
          requestBody: body('EvaluationRequest'),
          responses: { '200': { description: 'The decision.', content: json('EvaluationResponse') }, ...errors },
        },
      },
      '/access/v1/evaluations': {
        post: {
          summary: 'OpenID AuthZEN 1.0 access evaluations (several at once).',
          requestBody: body('EvaluationsRequest'),
          responses: {
            '200': { description: 'One decision per evaluation, in order.', content: json('EvaluationsResponse') },
            ...errors,
          },
        },
      },
      '/api/v1/gateway/servers': {
        get: {
          summary: 'The servers the caller may see.',
          responses: { '200': { description: 'The servers.', content: json('ServersResponse') }, ...errors },
        },
      },
      '/api/v1/gateway/tools': {
        get: {
          summary: 'The tools of a server the caller may call (as tools/list shows them).',
          parameters: queryParameters(s.toolsQuery),
          responses: { '200': { description: 'The tools.', content: json('ToolsResponse') }, ...errors },
        },
      },
      '/api/v1/gateway/audit': {
        get: {
          summary: 'Recent audit rows, newest first (policy action gateway:audit:read; needs ClickHouse).',
          parameters: queryParameters(s.auditQuery),
          responses: {
            '200': { description: 'A page of rows.', content: json('AuditResponse') },
            '503': { description: 'No audit store to query.', content: json('Error') },
            ...errors,
          },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An OAuth access token or an API key.' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      schemas: {
        AuthorizeRequest: schema(s.authorizeRequest, 'input'),
        AuthorizeResponse: schema(s.authorizeResponse),
        A2aAuthorizeRequest: schema(a2aAuthorizeRequest, 'input'),
        EvaluationRequest: schema(s.evaluationRequest, 'input'),
        EvaluationResponse: schema(s.evaluationResponse),
        EvaluationsRequest: schema(s.evaluationsRequest, 'input'),
        EvaluationsResponse: schema(s.evaluationsResponse),
        ServersResponse: schema(s.serversResponse),
        ToolsResponse: schema(s.toolsResponse),
        AuditResponse: schema(s.auditResponse),
        Error: schema(s.errorResponse),
      },
    },
  };
}
