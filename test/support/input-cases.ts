/**
 * A table of classified messages and identities covering every branch of
 * buildInput (tools, prompts, resources, completions, tasks, lists, session
 * plumbing, responses, delegation). input-golden.test.ts holds buildInput's
 * output for them byte for byte: the policy input SARK sends without the
 * registry must not change.
 */
import type { RequestMeta } from '../../src/decide/input.ts';
import type { Identity } from '../../src/identity/identity.ts';
import { ANONYMOUS } from '../../src/identity/identity.ts';
import { classify, type HeaderLookup, type McpMessage } from '../../src/mcp/classify.ts';
import type { JsonRpcMessage } from '../../src/mcp/jsonrpc.ts';

export const GOLDEN_META: RequestMeta = {
  requestId: 'r-golden',
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

const TOKEN_AGENT: Identity = {
  id: 'user-7',
  type: 'user',
  authenticated: true,
  authMethod: 'jwt',
  roles: ['developer'],
  tenant: 'acme',
  team: 'platform',
  trustLevel: 'medium',
  environment: 'prod',
  teams: ['platform', 'data'],
  scopes: ['mcp:tools', 'files:read'],
  clientId: 'https://client.example/meta.json',
  subject: 'user-7',
  issuer: 'https://issuer.example',
  delegation: [
    { sub: 'agent-b', clientId: 'b', iss: 'https://issuer.example' },
    { sub: 'agent-a', clientId: undefined, iss: undefined },
  ],
};

const KEY_AGENT: Identity = {
  id: 'dev-1',
  type: 'agent',
  authenticated: true,
  authMethod: 'api_key',
  roles: ['developer'],
  teams: [],
  scopes: [],
  delegation: [],
};

const SESSION: HeaderLookup = { 'mcp-session-id': ['s-1'] };
const rpc = (method: string, params?: Record<string, unknown>, id: number | null = 1) =>
  (id === null ? { jsonrpc: '2.0', method, params } : { jsonrpc: '2.0', id, method, params }) as JsonRpcMessage;

export const GOLDEN_CASES: readonly [string, McpMessage, Identity][] = [
  [
    'initialize',
    classify(
      rpc('initialize', {
        protocolVersion: '2025-06-18',
        clientInfo: { name: 'c', version: '1' },
        capabilities: { roots: {} },
      }),
      {},
    ),
    ANONYMOUS,
  ],
  [
    'tools/call',
    classify(rpc('tools/call', { name: 'echo', arguments: { text: 'hi', n: [1, 2] } }), SESSION),
    KEY_AGENT,
  ],
  [
    'tools/call by a token with act',
    classify(rpc('tools/call', { name: 'read_file', arguments: { path: '/srv/shared/a' } }), SESSION),
    TOKEN_AGENT,
  ],
  ['tools/call without arguments', classify(rpc('tools/call', { name: 'get_time' }), SESSION), ANONYMOUS],
  ['tools/list', classify(rpc('tools/list'), SESSION), KEY_AGENT],
  ['prompts/get', classify(rpc('prompts/get', { name: 'report_q1', arguments: { q: '1' } }), SESSION), KEY_AGENT],
  ['resources/read', classify(rpc('resources/read', { uri: 'file:///srv/shared/a.txt' }), SESSION), KEY_AGENT],
  ['resources/subscribe', classify(rpc('resources/subscribe', { uri: 'ops://x' }), SESSION), KEY_AGENT],
  [
    'completion of a prompt',
    classify(
      rpc('completion/complete', { ref: { type: 'ref/prompt', name: 'p' }, argument: { name: 'a', value: 'v' } }),
      SESSION,
    ),
    KEY_AGENT,
  ],
  [
    'completion of a template',
    classify(
      rpc('completion/complete', {
        ref: { type: 'ref/resource', uri: 'file:///{x}' },
        argument: { name: 'x', value: 'v' },
      }),
      SESSION,
    ),
    KEY_AGENT,
  ],
  ['tasks/get', classify(rpc('tasks/get', { taskId: 't-1' }), SESSION), KEY_AGENT],
  ['ping', classify(rpc('ping'), SESSION), ANONYMOUS],
  ['notification', classify(rpc('notifications/initialized', undefined, null), SESSION), ANONYMOUS],
  ['response', classify({ jsonrpc: '2.0', id: 5, result: {} } as JsonRpcMessage, SESSION), ANONYMOUS],
  ['unknown method', classify(rpc('x/y', { a: 1 }), SESSION), ANONYMOUS],
  [
    '2026 envelope',
    classify(
      rpc(
        'tools/call',
        { name: 'echo', arguments: { text: 'x' }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
        9,
      ),
      { 'mcp-protocol-version': ['2026-07-28'], 'mcp-method': ['tools/call'], 'mcp-name': ['echo'] },
    ),
    ANONYMOUS,
  ],
];
