/**
 * The policy input document (schema: opa/schemas/input.schema.json). Built
 * once per message from the classified message, the identity and request
 * metadata. Field names are snake_case, as Rego style expects.
 */
import type { Identity } from '../identity/identity.ts';
import type { RequestMeta } from '../listen/intake.ts';
import type { McpMessage } from '../mcp/classify.ts';
import type { RegistryView, ServerFacts, ServerListFacts, ToolFacts } from './registry/view.ts';

export type { RequestMeta } from '../listen/intake.ts';

export const INPUT_SCHEMA_VERSION = 1;

export interface PolicyInput {
  readonly schema_version: number;
  readonly action: string;
  readonly kind: string;
  readonly method: string | null;
  readonly era: string;
  readonly protocol_version: string | null;
  readonly server: { readonly id: string; readonly registry?: ServerFacts };
  readonly agent: Record<string, unknown>;
  readonly tool?: { readonly name: string; readonly registry?: ToolFacts };
  /** With a registry, for gateway:server:list only. */
  readonly registry?: ServerListFacts;
  readonly prompt?: { readonly name: string };
  readonly resource?: { readonly uri: string };
  readonly task?: { readonly id: string };
  readonly arguments?: Record<string, unknown>;
  readonly session_id: string | null;
  readonly request: Record<string, unknown>;
  readonly client: Record<string, unknown>;
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/**
 * The agent as the policy sees it: how it was authenticated (`auth_method`),
 * its OAuth scopes (expanded by the configured hierarchy; empty for API keys,
 * mesh and anonymous callers), its OAuth client id and the delegation chain
 * of its token (RFC 8693 `act`, current actor first).
 */
export function agentDocument(identity: Identity): Readonly<Record<string, unknown>> {
  let doc = AGENT_DOCUMENTS.get(identity);
  if (doc === undefined) {
    doc = Object.freeze({
      id: identity.id,
      type: identity.type,
      authenticated: identity.authenticated,
      auth_method: identity.authMethod,
      roles: identity.roles,
      tenant: identity.tenant ?? null,
      team: identity.team ?? null,
      trust_level: identity.trustLevel ?? null,
      environment: identity.environment ?? null,
      teams: identity.teams,
      scopes: identity.scopes,
      client_id: identity.clientId ?? null,
      delegation:
        identity.delegation.length === 0
          ? NO_DELEGATION
          : identity.delegation.map((a) => ({ sub: a.sub ?? null, client_id: a.clientId ?? null, iss: a.iss ?? null })),
    });
    AGENT_DOCUMENTS.set(identity, doc);
  }
  return doc;
}

const NO_DELEGATION: readonly never[] = Object.freeze([]);
/**
 * Identities are immutable and shared by an agent's calls (the API key map,
 * the verified-token cache), so each one's document is built once; frozen,
 * so the cache key can serialize it once too (cache-key.ts).
 */
const AGENT_DOCUMENTS = new WeakMap<Identity, Readonly<Record<string, unknown>>>();

/**
 * The policy input for one message. With `registry` (gatewayEnabled), the
 * registry's facts join it, read synchronously from the data in use:
 * input.server.registry always (with every listed tool's facts for
 * tools/list), input.tool.registry for a named tool, and input.registry (every
 * server) for gateway:server:list. Without it, not one byte differs from an
 * input built before the registry existed (test/unit/decide/input-golden.test.ts).
 */
export function buildInput(
  serverId: string,
  msg: McpMessage,
  identity: Identity,
  meta: RequestMeta,
  registry?: RegistryView,
): PolicyInput {
  const now = new Date(meta.nowMs);
  const input: Record<string, unknown> = {
    schema_version: INPUT_SCHEMA_VERSION,
    action: msg.action,
    kind: msg.kind,
    method: msg.method ?? null,
    era: msg.era,
    protocol_version: msg.protocolVersion ?? null,
    server: { id: serverId },
    agent: agentDocument(identity),
    session_id: meta.sessionId ?? null,
    request: {
      id: meta.requestId,
      jsonrpc_id: msg.id,
      transport: meta.transport,
      http_method: meta.httpMethod,
      path: meta.path,
      client_address: meta.clientAddress ?? null,
      user_agent: meta.userAgent ?? null,
      // Wall-clock fields pre-computed so policies stay portable to the WASM
      // target, where time builtins are not all available.
      time: {
        unix_ms: meta.nowMs,
        rfc3339: now.toISOString(),
        weekday: WEEKDAYS[now.getUTCDay()],
        hour_utc: now.getUTCHours(),
        minute_utc: now.getUTCMinutes(),
      },
    },
    // Client-supplied and unverified: never a basis for identity.
    client: {
      verified: false,
      client_info: msg.clientInfo ?? null,
      client_capabilities: msg.clientCapabilities ?? null,
    },
  };
  if (msg.name !== undefined) {
    switch (msg.method) {
      case 'tools/call':
        input.tool = { name: msg.name };
        break;
      case 'prompts/get':
        input.prompt = { name: msg.name };
        break;
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        input.resource = { uri: msg.name };
        break;
      // completion/complete names the prompt or resource template it completes
      // (MCP "Completion": params.ref), so the policy can judge it like a use of them.
      case 'completion/complete':
        if (msg.ref === 'ref/prompt') input.prompt = { name: msg.name };
        else if (msg.ref === 'ref/resource') input.resource = { uri: msg.name };
        break;
      default:
        if (msg.method?.startsWith('tasks/')) input.task = { id: msg.name };
    }
  }
  if (msg.arguments !== undefined) input.arguments = msg.arguments;
  if (registry) addRegistryFacts(input, serverId, msg.action, registry);
  return input as unknown as PolicyInput;
}

function addRegistryFacts(
  input: Record<string, unknown>,
  serverId: string,
  action: string,
  registry: RegistryView,
): void {
  const listing = action === 'gateway:tools:list' || action === 'gateway:server:list';
  input.server = { id: serverId, registry: listing ? registry.listingFacts(serverId) : registry.serverFacts(serverId) };
  const tool = input.tool as { name: string } | undefined;
  if (tool) input.tool = { name: tool.name, registry: registry.toolFacts(serverId, tool.name) };
  if (action === 'gateway:server:list') input.registry = registry.serverListFacts();
}
