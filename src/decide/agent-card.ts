/**
 * An A2A agent card (A2A v1.0, "Agent Card") as the agent-to-agent policy
 * sees it: validated where the policy reads it, normalized across the v1.0
 * proto-JSON shape and the 0.3 shape still in the field, its signatures
 * checked by SARK, and the skill a message targets inferred when the caller
 * names none.
 *
 * The card is the target's claim about itself. Nothing here trusts it more
 * than that: the policy takes tenant, trust and the skills an agent may be
 * asked for from its own data, and uses the card only to restrict (its
 * skills, their tags and security requirements) or as evidence it may require
 * (a signature that verified with a key SARK trusts).
 */
import {
  type CompactJWSHeaderParameters,
  createLocalJWKSet,
  type FlattenedVerifyGetKey,
  flattenedVerify,
  type JSONWebKeySet,
} from 'jose';
import { z } from 'zod';
import { canonicalJson } from '../mcp/canonical-json.ts';

const strings = z.array(z.string().max(1024)).max(256);
/** One security requirement: v1.0 `{schemes: {name: {list: [scopes]}}}` or 0.3 `{name: [scopes]}`. */
const requirement = z.record(z.string(), z.unknown());

const skill = z.looseObject({
  id: z.string().min(1).max(256),
  name: z.string().max(1024).optional(),
  tags: strings.optional(),
  inputModes: strings.optional(),
  securityRequirements: z.array(requirement).max(64).optional(),
  security: z.array(requirement).max(64).optional(),
});

/** The fields of a card the policy reads; the rest is kept as sent (the signature covers it). */
export const agentCardSchema = z.looseObject({
  name: z.string().max(1024),
  version: z.string().max(256).optional(),
  provider: z
    .looseObject({ organization: z.string().max(1024).optional(), url: z.string().max(2048).optional() })
    .optional(),
  capabilities: z
    .looseObject({
      streaming: z.boolean().optional(),
      pushNotifications: z.boolean().optional(),
      extendedAgentCard: z.boolean().optional(),
    })
    .optional(),
  securitySchemes: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
  securityRequirements: z.array(requirement).max(64).optional(),
  security: z.array(requirement).max(64).optional(),
  defaultInputModes: strings.optional(),
  skills: z.array(skill).max(512),
  signatures: z
    .array(
      z.looseObject({
        protected: z.string().max(16_384),
        signature: z.string().max(16_384),
        header: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .max(16)
    .optional(),
});
export type AgentCard = z.infer<typeof agentCardSchema>;

export type SchemeType =
  | 'api_key'
  | 'http_bearer'
  | 'http_basic'
  | 'http_other'
  | 'oauth2'
  | 'openid_connect'
  | 'mtls'
  | 'unknown';

/** One scheme of an alternative; a requirement list is alternatives (any one), each all of its schemes. */
export interface SchemeRequirement {
  readonly scheme: string;
  readonly type: SchemeType;
  readonly scopes: readonly string[];
}
export type Requirements = readonly (readonly SchemeRequirement[])[];

/** Whether the card's signatures verified, as the policy input carries it. */
export interface CardSignature {
  readonly present: boolean;
  readonly verified: boolean;
  readonly key_id: string | null;
}

/** The card in the policy input (opa/schemas/a2a_input.schema.json, definitions.card). */
export interface CardFacts {
  readonly name: string;
  readonly version: string | null;
  readonly provider: { readonly organization: string | null; readonly url: string | null } | null;
  readonly signature: CardSignature;
  readonly capabilities: {
    readonly streaming: boolean | null;
    readonly push_notifications: boolean | null;
    readonly extended_agent_card: boolean | null;
  };
  readonly security: Requirements;
  readonly skills: readonly {
    readonly id: string;
    readonly name: string;
    readonly tags: readonly string[];
    readonly security: Requirements | null;
  }[];
}

/** A scheme object of `securitySchemes`, v1.0 (one-of key) or 0.3 (`type`), as a SchemeType. */
export function schemeTypeOf(scheme: Record<string, unknown> | undefined): SchemeType {
  if (!scheme) return 'unknown';
  const http = (s: unknown): SchemeType => {
    const name = typeof s === 'string' ? s.toLowerCase() : '';
    return name === 'bearer' ? 'http_bearer' : name === 'basic' ? 'http_basic' : 'http_other';
  };
  if ('apiKeySecurityScheme' in scheme) return 'api_key';
  if ('httpAuthSecurityScheme' in scheme) return http((scheme.httpAuthSecurityScheme as { scheme?: unknown })?.scheme);
  if ('oauth2SecurityScheme' in scheme) return 'oauth2';
  if ('openIdConnectSecurityScheme' in scheme) return 'openid_connect';
  if ('mtlsSecurityScheme' in scheme) return 'mtls';
  switch (scheme.type) {
    case 'apiKey':
      return 'api_key';
    case 'http':
      return http(scheme.scheme);
    case 'oauth2':
      return 'oauth2';
    case 'openIdConnect':
      return 'openid_connect';
    case 'mutualTLS':
      return 'mtls';
    default:
      return 'unknown';
  }
}

function scopesOf(v: unknown): string[] {
  const list = Array.isArray(v) ? v : (v as { list?: unknown } | null)?.list;
  return Array.isArray(list) ? list.filter((s): s is string => typeof s === 'string') : [];
}

/**
 * Requirements as alternatives of schemes. A scheme the card does not define
 * is `unknown`, which nobody meets: a malformed requirement refuses, it never
 * drops out.
 */
export function requirementsOf(
  list: readonly Record<string, unknown>[],
  schemes: Readonly<Record<string, Record<string, unknown>>> | undefined,
): SchemeRequirement[][] {
  return list.map((req) => {
    const named =
      req.schemes !== null && typeof req.schemes === 'object' && !Array.isArray(req.schemes)
        ? (req.schemes as Record<string, unknown>)
        : req;
    return Object.entries(named).map(([scheme, scopes]) => ({
      scheme,
      type: schemeTypeOf(schemes?.[scheme]),
      scopes: scopesOf(scopes),
    }));
  });
}

/** The card as the policy input carries it. */
export function cardFacts(card: AgentCard, signature: CardSignature): CardFacts {
  const schemes = card.securitySchemes;
  const cardRequirements = card.securityRequirements ?? card.security ?? [];
  return {
    name: card.name,
    version: card.version ?? null,
    provider: card.provider
      ? { organization: card.provider.organization ?? null, url: card.provider.url ?? null }
      : null,
    signature,
    capabilities: {
      streaming: card.capabilities?.streaming ?? null,
      push_notifications: card.capabilities?.pushNotifications ?? null,
      extended_agent_card: card.capabilities?.extendedAgentCard ?? null,
    },
    security: requirementsOf(cardRequirements, schemes),
    skills: card.skills.map((s) => {
      const own = s.securityRequirements ?? s.security;
      return {
        id: s.id,
        name: s.name ?? s.id,
        tags: s.tags ?? [],
        security: own === undefined ? null : requirementsOf(own, schemes),
      };
    }),
  };
}

/** Algorithms a card signature may use: asymmetric only (a shared secret proves nothing about a provider). */
const CARD_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
];

/**
 * The keys SARK trusts to sign agent cards (the providers' public JWKS), by
 * `kid` and algorithm, for verifyAgentCard.
 */
export function trustedCardKeys(jwks: JSONWebKeySet): FlattenedVerifyGetKey {
  const local = createLocalJWKSet(jwks);
  // A flattened JWS always carries `alg` in its header (jose refuses one without), as the JWKS lookup needs.
  return (header, token) => local(header as CompactJWSHeaderParameters, token);
}

/**
 * Checks the card's signatures (A2A v1.0, "Agent Card Signing"): each is a
 * detached JWS whose payload is the card without `signatures`, in RFC 8785
 * canonical JSON. `verified` when one of them verifies with a key `keys`
 * resolves (trustedCardKeys); never without keys. Never throws.
 */
export async function verifyAgentCard(
  card: AgentCard,
  keys: FlattenedVerifyGetKey | undefined,
): Promise<CardSignature> {
  const signatures = card.signatures ?? [];
  if (signatures.length === 0 || !keys) return { present: signatures.length > 0, verified: false, key_id: null };
  const { signatures: _omitted, ...unsigned } = card;
  const payload = Buffer.from(canonicalJson(unsigned), 'utf8').toString('base64url');
  for (const s of signatures) {
    try {
      const { protectedHeader } = await flattenedVerify(
        { protected: s.protected, payload, signature: s.signature, ...(s.header ? { header: s.header } : {}) },
        keys,
        { algorithms: CARD_ALGORITHMS },
      );
      return {
        present: true,
        verified: true,
        key_id: typeof protectedHeader?.kid === 'string' ? protectedHeader.kid : null,
      };
    } catch {
      // Another signature may verify; none doing so is `verified: false`.
    }
  }
  return { present: true, verified: false, key_id: null };
}

/** One part of a message, v1.0 (`text` / `raw` / `url` / `data`, `mediaType`) or 0.3 (`kind`, `file.mimeType`). */
export const messagePartSchema = z.looseObject({
  text: z.string().optional(),
  raw: z.string().optional(),
  url: z.string().optional(),
  data: z.unknown().optional(),
  mediaType: z.string().max(256).optional(),
  media_type: z.string().max(256).optional(),
  kind: z.string().max(64).optional(),
  file: z.looseObject({ mimeType: z.string().max(256).optional() }).optional(),
});
export type MessagePart = z.infer<typeof messagePartSchema>;

/** A part's media type: its own, else what its kind implies. */
export function mediaTypeOf(p: MessagePart): string {
  const declared = p.mediaType ?? p.media_type ?? p.file?.mimeType;
  if (declared) return declared.split(';')[0]!.trim().toLowerCase();
  if (p.text !== undefined || p.kind === 'text') return 'text/plain';
  if (p.data !== undefined || p.kind === 'data') return 'application/json';
  return 'application/octet-stream';
}

function accepts(mode: string, mediaType: string): boolean {
  const m = mode.split(';')[0]!.trim().toLowerCase();
  if (m === '*/*' || m === mediaType) return true;
  return m.endsWith('/*') && mediaType.startsWith(m.slice(0, -1));
}

/**
 * The skill a message targets, when the caller names none (A2A messages do
 * not): the one skill of the card whose input modes (its own, else the
 * card's defaults) accept every part of the message. None, or more than one:
 * undefined, and the policy refuses (skill_unresolved) rather than guess.
 */
export function inferSkill(card: AgentCard, parts: readonly MessagePart[]): string | undefined {
  const types = parts.map(mediaTypeOf);
  const fits = card.skills.filter((s) => {
    const modes = s.inputModes ?? card.defaultInputModes;
    return modes === undefined || types.every((t) => modes.some((m) => accepts(m, t)));
  });
  return fits.length === 1 ? fits[0]!.id : undefined;
}
