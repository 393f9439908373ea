/**
 * The authorize-a2a request body, the policy input built from it, the agent
 * card's signature check and skill inference, and the compiled a2a policy
 * deciding on what the builder produces.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { exportJWK, FlattenedSign, generateKeyPair, type JSONWebKeySet } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { A2A_DECISION_PATH, a2aAuthorizeRequest, buildA2aInput } from '../../../src/decide/a2a-input.ts';
import {
  type AgentCard,
  agentCardSchema,
  inferSkill,
  mediaTypeOf,
  requirementsOf,
  schemeTypeOf,
  trustedCardKeys,
  verifyAgentCard,
} from '../../../src/decide/agent-card.ts';
import type { PolicyEngine } from '../../../src/decide/engine.ts';
import type { PolicyInput } from '../../../src/decide/input.ts';
import { createWasmEngine } from '../../../src/decide/wasm-engine.ts';
import { ANONYMOUS, type Identity } from '../../../src/identity/identity.ts';
import { canonicalJson } from '../../../src/mcp/canonical-json.ts';

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validA2aInput = ajv.compile(
  JSON.parse(readFileSync(new URL('../../../opa/schemas/a2a_input.schema.json', import.meta.url), 'utf8')),
);

const PLANNER: Identity = {
  id: 'planner',
  type: 'agent',
  authenticated: true,
  authMethod: 'jwt',
  roles: [],
  tenant: 'acme',
  team: undefined,
  teams: [],
  trustLevel: 'high',
  environment: 'prod',
  scopes: ['research:read'],
  clientId: 'planner-app',
  subject: 'planner',
  issuer: 'https://issuer.example',
  delegation: [],
};
const REQ = { requestId: 'r-1', nowMs: Date.UTC(2026, 0, 5, 10, 0, 0) };

/** A v1.0 card (proto-JSON names). */
const RESEARCH_CARD = {
  name: 'Researcher',
  description: 'Finds and summarizes',
  version: '1.4.0',
  provider: { organization: 'Acme Research', url: 'https://research.acme.example' },
  supportedInterfaces: [
    { url: 'https://research.acme.example/a2a', protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
  ],
  capabilities: { streaming: true, pushNotifications: false },
  securitySchemes: {
    oauth: { oauth2SecurityScheme: { flows: { clientCredentials: { tokenUrl: 'https://t', scopes: {} } } } },
    mesh: { mtlsSecurityScheme: {} },
  },
  securityRequirements: [{ schemes: { oauth: { list: ['research:read'] } } }, { schemes: { mesh: { list: [] } } }],
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [
    { id: 'search.web', name: 'Web search', description: 'd', tags: ['search'], inputModes: ['text/plain'] },
    {
      id: 'summarize',
      name: 'Summarize',
      description: 'd',
      tags: ['text'],
      inputModes: ['application/pdf', 'application/json'],
      securityRequirements: [{ schemes: { oauth: { list: ['summarize'] } } }],
    },
  ],
};

function body(json: unknown) {
  return a2aAuthorizeRequest.parse(json);
}

describe('the authorize-a2a request body', () => {
  it('accepts the v1.0 operations and maps the 0.3 method names onto them', () => {
    expect(body({ operation: 'SendMessage', target: { id: 'researcher' } }).operation).toBe('SendMessage');
    expect(body({ operation: 'message/stream', target: { id: 'r' } }).operation).toBe('SendStreamingMessage');
    expect(body({ operation: 'tasks/pushNotificationConfig/set', target: { id: 'r' } }).operation).toBe(
      'CreateTaskPushNotificationConfig',
    );
    expect(body({ operation: 'agent/getAuthenticatedExtendedCard', target: { id: 'r' } }).operation).toBe(
      'GetExtendedAgentCard',
    );
  });

  it('names the field of a bad request', () => {
    const issues = (json: unknown) =>
      a2aAuthorizeRequest.safeParse(json).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(issues({ operation: 'DoEverything', target: { id: 'r' } })[0]).toMatch(
      /^operation: expected an A2A operation/,
    );
    expect(issues({ operation: 'GetTask', target: {} })[0]).toMatch(/^target\.id/);
    expect(issues({ operation: 'GetTask', target: { id: 'r' }, source: { id: 'admin' } })[0]).toMatch(/source/);
    expect(issues({ operation: 'GetTask', target: { id: 'r', card: { name: 'x', skills: 'none' } } })[0]).toMatch(
      /^target\.card\.skills/,
    );
    expect(issues({ operation: 'GetTask', target: { id: 'r', trust_level: 'critical' } })[0]).toMatch(/trust_level/);
  });
});

describe('buildA2aInput', () => {
  it('takes the source from the identity, never the body, and is schema-valid', () => {
    const delegated: Identity = {
      ...PLANNER,
      delegation: [
        { sub: 'sandbox', clientId: undefined, iss: 'https://issuer.example' },
        { sub: undefined, clientId: 'origin-app', iss: undefined },
      ],
    };
    const input = buildA2aInput(
      body({ operation: 'SendMessage', target: { id: 'researcher', card: RESEARCH_CARD }, skill: 'search.web' }),
      delegated,
      REQ,
    );
    expect(validA2aInput(input), JSON.stringify(validA2aInput.errors)).toBe(true);
    expect(input.source).toEqual({
      id: 'planner',
      type: 'agent',
      authenticated: true,
      auth_method: 'jwt',
      roles: [],
      tenant: 'acme',
      team: null,
      trust_level: 'high',
      environment: 'prod',
      teams: [],
      scopes: ['research:read'],
      client_id: 'planner-app',
      delegation: [
        { sub: 'sandbox', client_id: null, iss: 'https://issuer.example' },
        { sub: null, client_id: 'origin-app', iss: null },
      ],
      subject: 'planner',
      issuer: 'https://issuer.example',
    });
    expect(input.request).toEqual({ id: 'r-1', time: { unix_ms: REQ.nowMs, weekday: 'Monday', hour_utc: 10 } });
    expect(input.skill).toEqual({ id: 'search.web', source: 'declared' });
  });

  it('normalizes a v1.0 card: provider, capabilities, schemes and requirements, per skill', () => {
    const input = buildA2aInput(
      body({ operation: 'GetTask', target: { id: 'researcher', card: RESEARCH_CARD }, task_id: 't-1' }),
      PLANNER,
      REQ,
    );
    expect(input.target.card).toEqual({
      name: 'Researcher',
      version: '1.4.0',
      provider: { organization: 'Acme Research', url: 'https://research.acme.example' },
      signature: { present: false, verified: false, key_id: null },
      capabilities: { streaming: true, push_notifications: false, extended_agent_card: null },
      security: [
        [{ scheme: 'oauth', type: 'oauth2', scopes: ['research:read'] }],
        [{ scheme: 'mesh', type: 'mtls', scopes: [] }],
      ],
      skills: [
        { id: 'search.web', name: 'Web search', tags: ['search'], security: null },
        {
          id: 'summarize',
          name: 'Summarize',
          tags: ['text'],
          security: [[{ scheme: 'oauth', type: 'oauth2', scopes: ['summarize'] }]],
        },
      ],
    });
    expect(input.skill).toBeNull();
    expect(input.task).toEqual({ id: 't-1' });
    expect(validA2aInput(input), JSON.stringify(validA2aInput.errors)).toBe(true);
  });

  it('reads 0.3 cards too, and an undefined scheme is unknown (met by nobody)', () => {
    const card = agentCardSchema.parse({
      name: 'Old',
      securitySchemes: {
        key: { type: 'apiKey', in: 'header', name: 'X-Key' },
        bearer: { type: 'http', scheme: 'Bearer' },
      },
      security: [{ key: [] }, { bearer: [], ghost: ['x'] }],
      skills: [{ id: 's', security: [{ key: [] }] }],
    });
    expect(requirementsOf(card.security!, card.securitySchemes)).toEqual([
      [{ scheme: 'key', type: 'api_key', scopes: [] }],
      [
        { scheme: 'bearer', type: 'http_bearer', scopes: [] },
        { scheme: 'ghost', type: 'unknown', scopes: ['x'] },
      ],
    ]);
    for (const [scheme, type] of [
      [{ type: 'openIdConnect' }, 'openid_connect'],
      [{ type: 'mutualTLS' }, 'mtls'],
      [{ type: 'oauth2' }, 'oauth2'],
      [{ type: 'http', scheme: 'Basic' }, 'http_basic'],
      [{ type: 'http', scheme: 'Digest' }, 'http_other'],
      [{ httpAuthSecurityScheme: { scheme: 'bearer' } }, 'http_bearer'],
      [{ openIdConnectSecurityScheme: {} }, 'openid_connect'],
      [{ apiKeySecurityScheme: {} }, 'api_key'],
      [{ type: 'carrier-pigeon' }, 'unknown'],
    ] as const) {
      expect(schemeTypeOf(scheme as Record<string, unknown>)).toBe(type);
    }
    const input = buildA2aInput(body({ operation: 'message/send', target: { id: 'old', card } }), PLANNER, REQ);
    expect(input.skill).toEqual({ id: 's', source: 'inferred' });
    expect(validA2aInput(input), JSON.stringify(validA2aInput.errors)).toBe(true);
  });

  it('infers the one skill whose input modes take the message, else none', () => {
    const card = agentCardSchema.parse(RESEARCH_CARD);
    expect(inferSkill(card, [{ text: 'find flights' }])).toBe('search.web');
    expect(inferSkill(card, [{ data: { x: 1 } }])).toBe('summarize');
    expect(inferSkill(card, [{ url: 'https://x/a.pdf', mediaType: 'application/pdf; q=1' }])).toBe('summarize');
    // Text and a PDF: no skill takes both. An image: none takes it.
    expect(inferSkill(card, [{ text: 'x' }, { raw: 'AAAA', mediaType: 'application/pdf' }])).toBeUndefined();
    expect(inferSkill(card, [{ kind: 'file', file: { mimeType: 'image/png' } }])).toBeUndefined();
    // No parts: every skill fits, so more than one: none.
    expect(inferSkill(card, [])).toBeUndefined();
    const wild = agentCardSchema.parse({
      name: 'w',
      defaultInputModes: ['image/*'],
      skills: [{ id: 'see' }, { id: 'say', inputModes: ['text/*'] }],
    });
    expect(inferSkill(wild, [{ kind: 'file', file: { mimeType: 'image/png' } }])).toBe('see');
    expect(mediaTypeOf({ raw: 'AA' })).toBe('application/octet-stream');
    expect(mediaTypeOf({ kind: 'data' })).toBe('application/json');

    const send = (message: unknown, skill?: string) =>
      buildA2aInput(
        body({
          operation: 'SendMessage',
          target: { id: 'researcher', card: RESEARCH_CARD },
          message,
          ...(skill ? { skill } : {}),
        }),
        PLANNER,
        REQ,
      );
    expect(send({ parts: [{ text: 'x' }], taskId: 't-9' })).toMatchObject({
      skill: { id: 'search.web', source: 'inferred' },
      task: { id: 't-9' },
    });
    expect(send({ parts: [{ text: 'x' }] }, 'summarize').skill).toEqual({ id: 'summarize', source: 'declared' });
    expect(send({ parts: [{ text: 'x' }, { data: 1 }] }).skill).toBeNull();
    // Without a card nothing can be inferred.
    expect(
      buildA2aInput(
        body({ operation: 'SendMessage', target: { id: 'r' }, message: { parts: [{ text: 'x' }] } }),
        PLANNER,
        REQ,
      ).skill,
    ).toBeNull();
  });

  it('a card with signatures SARK did not check counts as not verified', () => {
    const input = buildA2aInput(
      body({
        operation: 'GetExtendedAgentCard',
        target: { id: 'r', card: { ...RESEARCH_CARD, signatures: [{ protected: 'e30', signature: 'AA' }] } },
      }),
      PLANNER,
      REQ,
    );
    expect(input.target.card?.signature).toEqual({ present: true, verified: false, key_id: null });
  });
});

describe('verifyAgentCard (detached JWS over the RFC 8785 canonical card)', () => {
  let jwks: JSONWebKeySet;
  let sign: (card: Record<string, unknown>, kid?: string) => Promise<AgentCard>;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'acme-1', alg: 'ES256' }] };
    sign = async (card, kid = 'acme-1') => {
      const jws = await new FlattenedSign(new TextEncoder().encode(canonicalJson(card)))
        .setProtectedHeader({ alg: 'ES256', kid })
        .sign(privateKey);
      return agentCardSchema.parse({ ...card, signatures: [{ protected: jws.protected, signature: jws.signature }] });
    };
  });

  it('verifies a card signed by a trusted key, whatever the order of its members', async () => {
    const signed = await sign(RESEARCH_CARD);
    const reordered = agentCardSchema.parse(
      JSON.parse(JSON.stringify({ signatures: signed.signatures, ...RESEARCH_CARD, skills: signed.skills })),
    );
    for (const card of [signed, reordered]) {
      expect(await verifyAgentCard(card, trustedCardKeys(jwks))).toEqual({
        present: true,
        verified: true,
        key_id: 'acme-1',
      });
    }
  });

  it('refuses a changed card, an unknown key, no keys, no signature', async () => {
    const signed = await sign(RESEARCH_CARD);
    const changed = { ...signed, provider: { organization: 'Evil Corp' } };
    expect(await verifyAgentCard(changed, trustedCardKeys(jwks))).toEqual({
      present: true,
      verified: false,
      key_id: null,
    });
    expect(await verifyAgentCard(await sign(RESEARCH_CARD, 'other'), trustedCardKeys(jwks))).toMatchObject({
      verified: false,
    });
    expect(await verifyAgentCard(signed, undefined)).toEqual({ present: true, verified: false, key_id: null });
    expect(await verifyAgentCard(agentCardSchema.parse(RESEARCH_CARD), trustedCardKeys(jwks))).toEqual({
      present: false,
      verified: false,
      key_id: null,
    });
  });

  it('refuses a shared-secret (HS256) signature even with the secret among the keys', async () => {
    const secret = new TextEncoder().encode('0123456789abcdef0123456789abcdef');
    const jws = await new FlattenedSign(new TextEncoder().encode(canonicalJson(RESEARCH_CARD)))
      .setProtectedHeader({ alg: 'HS256', kid: 'shared' })
      .sign(secret);
    const card = agentCardSchema.parse({
      ...RESEARCH_CARD,
      signatures: [{ protected: jws.protected, signature: jws.signature }],
    });
    const keys = { keys: [{ kty: 'oct', kid: 'shared', alg: 'HS256', k: Buffer.from(secret).toString('base64url') }] };
    expect(await verifyAgentCard(card, trustedCardKeys(keys))).toMatchObject({ verified: false });
  });
});

describe(`the compiled a2a policy (${A2A_DECISION_PATH}) on built inputs`, () => {
  let a2a: PolicyEngine;
  beforeAll(async () => {
    a2a = await createWasmEngine({ decisionPath: A2A_DECISION_PATH });
  });
  const decide = async (input: unknown) =>
    (await a2a.evaluate(input as PolicyInput)) as { allow: boolean; reasons: { code: string }[] };

  it('allows a declared skill the card lists, for a caller meeting its requirement', async () => {
    const d = await decide(
      buildA2aInput(
        body({ operation: 'SendMessage', target: { id: 'researcher', card: RESEARCH_CARD }, skill: 'search.web' }),
        PLANNER,
        REQ,
      ),
    );
    expect(d).toMatchObject({ allow: true, reasons: [] });
  });

  it('denies an inferred skill whose requirement the caller does not meet', async () => {
    const d = await decide(
      buildA2aInput(
        body({
          operation: 'SendMessage',
          target: { id: 'researcher', card: RESEARCH_CARD },
          message: { parts: [{ data: {} }] },
        }),
        PLANNER,
        REQ,
      ),
    );
    expect(d.allow).toBe(false);
    expect(d.reasons[0]?.code).toBe('security_requirements_unmet');
  });

  it('a target that requires a signed card: denied unsigned, allowed once SARK verified it', async () => {
    const critical: Identity = { ...PLANNER, trustLevel: 'critical', authMethod: 'mesh', scopes: [] };
    const card = {
      name: 'Payments',
      version: '2.3.1',
      provider: { organization: 'Acme Payments' },
      skills: [{ id: 'payments.transfer', tags: ['payments'] }],
    };
    const req = body({ operation: 'SendMessage', target: { id: 'payments', card }, skill: 'payments.transfer' });
    expect((await decide(buildA2aInput(req, critical, REQ))).reasons[0]?.code).toBe('target_card_unverified');
    const verified = buildA2aInput(req, critical, REQ, { present: true, verified: true, key_id: 'acme-pay-1' });
    expect(await decide(verified)).toMatchObject({ allow: true });
  });

  it('the anonymous caller is refused', async () => {
    const d = await decide(
      buildA2aInput(body({ operation: 'GetTask', target: { id: 'researcher' }, task_id: 't' }), ANONYMOUS, REQ),
    );
    expect(d.reasons[0]?.code).toBe('source_unauthenticated');
  });
});
