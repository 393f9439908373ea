/**
 * The shared table of calls every entry point must decide alike: the MCP
 * listener, the decision API (/authorize, AuthZEN) and Envoy ext_authz each
 * make these calls and compare their decision and audit row with the MCP
 * listener's (test/integration/listen/decision-api.test.ts, ext-authz.test.ts).
 */
export type Who = 'developer' | 'admin' | 'anonymous';

export interface DecisionCase {
  readonly who: Who;
  readonly tool: string;
  readonly args: Record<string, unknown>;
}

export const DECISION_CASES: readonly DecisionCase[] = [
  { who: 'developer', tool: 'echo', args: { text: 'hello' } },
  { who: 'developer', tool: 'delete_file', args: { path: '/etc/passwd' } },
  { who: 'developer', tool: 'add', args: { a: 1, b: 2, api_token: 'tok-123456789' } },
  { who: 'admin', tool: 'delete_file', args: { path: '/tmp/x' } },
  { who: 'anonymous', tool: 'echo', args: { text: 'anon' } },
  { who: 'anonymous', tool: 'delete_file', args: { path: '/x' } },
];

export const CASE_KEYS: Readonly<Record<Exclude<Who, 'anonymous'>, string>> = {
  developer: 'dev-key-0123456789abcdef',
  admin: 'admin-key-0123456789abcdef',
};

/** The API keys file entries for the table's agents. */
export const CASE_KEY_ENTRIES = [
  { key: CASE_KEYS.developer, agentId: 'dev-1', roles: ['developer'], trustLevel: 'medium' },
  { key: CASE_KEYS.admin, agentId: 'admin-1', roles: ['admin'], trustLevel: 'high' },
];

export function keyOf(who: Who): string | undefined {
  return who === 'anonymous' ? undefined : CASE_KEYS[who];
}
