/**
 * The decision contract on the TypeScript side: inputs built by buildInput
 * satisfy opa/schemas/input.schema.json, and decisions of the real compiled
 * policy (opa/build, the embedded evaluator) satisfy decision.schema.json.
 * The Rego side is opa/policies/contract_test.rego.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { a2aAuthorizeRequest, buildA2aInput } from '../../../src/decide/a2a-input.ts';
import type { PolicyEngine } from '../../../src/decide/engine.ts';
import { buildInput, type PolicyInput, type RequestMeta } from '../../../src/decide/input.ts';
import { createWasmEngine } from '../../../src/decide/wasm-engine.ts';
import { ANONYMOUS, type Identity } from '../../../src/identity/identity.ts';
import { classify, type HeaderLookup } from '../../../src/mcp/classify.ts';
import type { JsonRpcMessage } from '../../../src/mcp/jsonrpc.ts';

const schema = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../opa/schemas/${name}`, import.meta.url), 'utf8'));

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validInput = ajv.compile(schema('input.schema.json'));
const validDecision = ajv.compile(schema('decision.schema.json'));
const validA2aInput = ajv.compile(schema('a2a_input.schema.json'));

// Monday 2026-01-05 10:00 UTC: inside the example business hours.
const META: RequestMeta = {
  requestId: 'r-1',
  serverId: 'demo',
  httpMethod: 'POST',
  path: '/mcp',
  clientAddress: '127.0.0.1',
  userAgent: 'vitest',
  sessionId: 's-1',
  transport: 'streamable-http',
  nowMs: Date.UTC(2026, 0, 5, 10, 0, 0),
  t0: 0,
  traceparent: undefined,
};

const DEVELOPER: Identity = {
  id: 'dev-1',
  type: 'agent',
  authenticated: true,
  authMethod: 'api_key',
  roles: ['developer'],
  tenant: 'acme',
  team: 'platform',
  trustLevel: 'medium',
  environment: 'dev',
  teams: ['platform'],
  scopes: [],
  delegation: [],
};
const ADMIN: Identity = { ...DEVELOPER, id: 'admin-1', roles: ['admin'], team: undefined, trustLevel: undefined };

const SESSION: HeaderLookup = { 'mcp-session-id': ['s-1'] };

function input(
  message: JsonRpcMessage,
  identity: Identity = ANONYMOUS,
  headers = SESSION,
  server = 'demo',
): PolicyInput {
  return buildInput(server, classify(message, headers), identity, META);
}

const call = (name: string, args: Record<string, unknown> = {}) =>
  ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }) as JsonRpcMessage;

/** [name, input, expected allow, expected first reason]. */
const TABLE: [string, PolicyInput, boolean, string | undefined][] = [
  [
    'initialize',
    input(
      {
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', clientInfo: { name: 'c', version: '1' }, capabilities: {} },
      } as JsonRpcMessage,
      ANONYMOUS,
      {},
    ),
    true,
    undefined,
  ],
  ['notification', input({ jsonrpc: '2.0', method: 'notifications/initialized' } as JsonRpcMessage), true, undefined],
  ['response', input({ jsonrpc: '2.0', id: 5, result: {} } as JsonRpcMessage), true, undefined],
  ['ping', input({ jsonrpc: '2.0', id: 2, method: 'ping' } as JsonRpcMessage), true, undefined],
  ['tools/list', input({ jsonrpc: '2.0', id: 3, method: 'tools/list' } as JsonRpcMessage), true, undefined],
  ['anonymous echo', input(call('echo', { text: 'hi' })), true, undefined],
  ['anonymous add', input(call('add', { a: 1, b: 2 })), true, undefined],
  ['anonymous get_time', input(call('get_time')), true, undefined],
  ['anonymous delete_file', input(call('delete_file', { path: '/etc/passwd' })), false, 'tool_not_granted'],
  ['developer echo with a secret', input(call('echo', { text: 'x', api_key: 'k' }), DEVELOPER), true, undefined],
  ['developer delete_file', input(call('delete_file', { path: '/tmp/sark-demo/x' }), DEVELOPER), false, 'tool_denied'],
  ['admin delete_file in the root', input(call('delete_file', { path: '/tmp/sark-demo/x' }), ADMIN), true, undefined],
  [
    'admin delete_file traversal',
    input(call('delete_file', { path: '%2e%2e/%2e%2e/etc' }), ADMIN),
    false,
    'argument_path_traversal',
  ],
  ['unknown method', input({ jsonrpc: '2.0', id: 4, method: 'x/y' } as JsonRpcMessage), false, 'action_not_granted'],
  ['unknown server', input(call('echo'), ANONYMOUS, SESSION, 'elsewhere'), false, 'server_unknown'],
  [
    '2026 envelope',
    input(
      {
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: {
          name: 'echo',
          arguments: { text: 'x' },
          _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' },
        },
      } as JsonRpcMessage,
      ANONYMOUS,
      { 'mcp-protocol-version': ['2026-07-28'], 'mcp-method': ['tools/call'], 'mcp-name': ['echo'] },
    ),
    true,
    undefined,
  ],
];

describe('input contract (opa/schemas/input.schema.json)', () => {
  it.each(TABLE)('%s: buildInput output is valid', (_name, doc) => {
    expect(validInput(doc), JSON.stringify(validInput.errors)).toBe(true);
  });

  it('rejects an input without an agent or with an unknown action', () => {
    const doc = TABLE[0]![1] as unknown as Record<string, unknown>;
    expect(validInput({ ...doc, agent: undefined })).toBe(false);
    expect(validInput({ ...doc, action: 'gateway:everything' })).toBe(false);
  });
});

describe('decision contract (opa/schemas/decision.schema.json) on the compiled policy', () => {
  let gateway: PolicyEngine;
  let a2a: PolicyEngine;

  beforeAll(async () => {
    gateway = await createWasmEngine({ decisionPath: 'sark/gateway/decision' });
    a2a = await createWasmEngine({ decisionPath: 'sark/a2a/decision' });
  });

  it.each(TABLE)('%s', async (_name, doc, allow, reason) => {
    const decision = (await gateway.evaluate(doc)) as { allow: boolean; reasons: { code: string }[] };
    expect(validDecision(decision), JSON.stringify(validDecision.errors)).toBe(true);
    expect(decision.allow).toBe(allow);
    expect(decision.reasons[0]?.code).toBe(reason);
  });

  it('tools/list carries exactly the tools the agent may call', async () => {
    const list = (await gateway.evaluate(TABLE[4]![1])) as { visible_tools: string[] };
    expect(list.visible_tools).toEqual(['add', 'echo', 'get_time']);
  });

  it('gateway:server:list carries exactly the servers with a tool the agent may call', async () => {
    // No MCP method maps to this action (an authorization API asks it), so the
    // input is a buildInput document with the action set.
    const list = (doc: PolicyInput): PolicyInput => ({ ...doc, action: 'gateway:server:list', method: null });
    const admin = list(input({ jsonrpc: '2.0', id: 7, method: 'ping' } as JsonRpcMessage, ADMIN));
    const anonymous = list(input({ jsonrpc: '2.0', id: 8, method: 'ping' } as JsonRpcMessage));
    expect(validInput(admin), JSON.stringify(validInput.errors)).toBe(true);
    const shown = (await gateway.evaluate(admin)) as { allow: boolean; visible_servers: string[] };
    expect(validDecision(shown), JSON.stringify(validDecision.errors)).toBe(true);
    expect(shown.allow).toBe(true);
    // ops shares no tool outside its owning team, so the admin is not shown it.
    expect(shown.visible_servers).toEqual(['demo', 'files', 'warehouse']);
    const hidden = (await gateway.evaluate(anonymous)) as { allow: boolean; visible_servers: string[] };
    expect(validDecision(hidden), JSON.stringify(validDecision.errors)).toBe(true);
    expect(hidden.allow).toBe(false);
    expect(hidden.visible_servers).toEqual([]);
    const other = (await gateway.evaluate(TABLE[4]![1])) as { visible_servers: unknown };
    expect(other.visible_servers).toBeNull();
  });

  it('a secret-looking argument is redacted', async () => {
    const d = (await gateway.evaluate(TABLE[9]![1])) as { obligations: { arguments: { redact: string[] } } };
    expect(d.obligations.arguments.redact).toEqual(['/api_key']);
  });

  it('the a2a entrypoint answers the same contract', async () => {
    const planner: Identity = {
      ...DEVELOPER,
      id: 'planner',
      authMethod: 'mesh',
      roles: [],
      trustLevel: 'high',
      environment: 'prod',
    };
    const request = { requestId: 'r-1', nowMs: META.nowMs };
    const doc = buildA2aInput(
      a2aAuthorizeRequest.parse({ operation: 'SendMessage', target: { id: 'researcher' }, skill: 'search.web' }),
      planner,
      request,
    );
    expect(validA2aInput(doc), JSON.stringify(validA2aInput.errors)).toBe(true);
    const allowed = await a2a.evaluate(doc as unknown as PolicyInput);
    expect(validDecision(allowed)).toBe(true);
    expect((allowed as { allow: boolean }).allow).toBe(true);
    const denied = await a2a.evaluate(
      buildA2aInput(
        a2aAuthorizeRequest.parse({ operation: 'SendMessage', target: { id: 'globex-helper' }, skill: 'summarize' }),
        planner,
        request,
      ) as unknown as PolicyInput,
    );
    expect(validDecision(denied)).toBe(true);
    expect((denied as { reasons: { code: string }[] }).reasons[0]?.code).toBe('cross_tenant');
  });
});
