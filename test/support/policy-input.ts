/** A minimal policy input for the decision-cache tests: a tools/call by a `dev` agent on server `demo`. */
import type { PolicyInput } from '../../src/decide/input.ts';

export function toolCallInput(tool: string, args?: Record<string, unknown>, agentId = 'alice'): PolicyInput {
  return {
    schema_version: 1,
    action: 'gateway:tool:invoke',
    kind: 'request',
    method: 'tools/call',
    era: '2025-stateless',
    protocol_version: null,
    server: { id: 'demo' },
    agent: { id: agentId, roles: ['dev'] },
    tool: { name: tool },
    ...(args ? { arguments: args } : {}),
    session_id: null,
    // A new request id each time: the cache key must not depend on it.
    request: { id: crypto.randomUUID() },
    client: {},
  };
}
