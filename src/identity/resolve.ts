/**
 * Who is calling. Credentials are checked in a fixed order: API key
 * (Authorization: Bearer or X-API-Key), then the trusted mesh identity header
 * when configured, then the anonymous agent when allowed. A credential that is
 * present but wrong is an authentication failure, never a silent fall-back to
 * anonymous.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, SarkError } from '../errors.ts';
import type { HeaderLookup } from '../mcp/classify.ts';

import { ANONYMOUS, type Identity } from './identity.ts';

export type { AuthMethod, Identity } from './identity.ts';
export { ANONYMOUS };

const apiKeyEntry = z
  .object({
    key: z.string().min(16, 'an API key must have at least 16 characters').optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits')
      .optional(),
    agentId: z.string().min(1),
    type: z.enum(['agent', 'user', 'service']).default('agent'),
    roles: z.array(z.string().min(1)).default([]),
    tenant: z.string().optional(),
    team: z.string().optional(),
    trustLevel: z.string().optional(),
    environment: z.string().optional(),
  })
  .strict()
  .refine((e) => (e.key === undefined) !== (e.sha256 === undefined), 'give exactly one of "key" or "sha256"');

export interface IdentityOptions {
  apiKeysFile?: string | undefined;
  meshIdentityHeader?: string | undefined;
  allowAnonymous: boolean;
}

export type IdentityResolver = (headers: HeaderLookup) => Identity;

function digest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function loadApiKeys(file: string): Map<string, Identity> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`apiKeysFile (${file}): cannot read a JSON array: ${(err as Error).message}`);
  }
  const parsed = z.array(apiKeyEntry).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`apiKeysFile (${file}) at [${issue.path.join('.')}]: ${issue.message}`);
  }
  const keys = new Map<string, Identity>();
  for (const e of parsed.data) {
    keys.set(e.sha256 ?? digest(e.key!), {
      id: e.agentId,
      type: e.type,
      authenticated: true,
      authMethod: 'api_key',
      roles: Object.freeze([...e.roles]),
      tenant: e.tenant,
      team: e.team,
      trustLevel: e.trustLevel,
      environment: e.environment,
      teams: e.team === undefined ? [] : [e.team],
      scopes: [],
      delegation: [],
    });
  }
  return keys;
}

export function createIdentityResolver(options: IdentityOptions): IdentityResolver {
  const keys = options.apiKeysFile ? loadApiKeys(options.apiKeysFile) : new Map<string, Identity>();
  const meshHeader = options.meshIdentityHeader;
  const allowAnonymous = options.allowAnonymous;

  const verified = new Map<string, Identity>();

  return function resolveIdentity(headers: HeaderLookup): Identity {
    const presented = presentedKey(headers);
    if (presented !== undefined) {
      // Keys that were valid once skip the digest (sha256 was ~2 % of the hot
      // path in a CPU profile). Only valid keys are remembered: the memo holds
      // at most one entry per configured key and cannot be grown by guessing.
      const known = verified.get(presented);
      if (known) return known;
      const found = keys.get(digest(presented));
      if (!found) throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'unknown credential' });
      verified.set(presented, found);
      return found;
    }
    if (meshHeader !== undefined) {
      const values = headers[meshHeader];
      if (values && values.length > 0) {
        if (values.length > 1 || !values[0]) {
          throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'ambiguous mesh identity' });
        }
        return {
          id: values[0],
          type: 'service',
          authenticated: true,
          authMethod: 'mesh',
          roles: [],
          teams: [],
          scopes: [],
          delegation: [],
        };
      }
    }
    if (allowAnonymous) return ANONYMOUS;
    throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'credentials required' });
  };
}

function presentedKey(headers: HeaderLookup): string | undefined {
  const auth = headers.authorization;
  if (auth && auth.length > 0) {
    if (auth.length > 1) throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'repeated Authorization header' });
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth[0]!);
    if (!m) throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'unsupported Authorization scheme' });
    return m[1];
  }
  const apiKey = headers['x-api-key'];
  if (apiKey && apiKey.length > 0) {
    if (apiKey.length > 1) throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'repeated X-API-Key header' });
    return apiKey[0];
  }
  return undefined;
}
