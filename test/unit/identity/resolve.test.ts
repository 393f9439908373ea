import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, type SarkError } from '../../../src/errors.ts';
import { ANONYMOUS, createIdentityResolver } from '../../../src/identity/resolve.ts';

const dir = mkdtempSync(join(tmpdir(), 'sark-id-'));
const file = join(dir, 'keys.json');
writeFileSync(
  file,
  JSON.stringify([
    { key: 'plain-key-0123456789', agentId: 'a1', roles: ['developer'], tenant: 't1' },
    { sha256: createHash('sha256').update('hashed-key-0123456789').digest('hex'), agentId: 'a2', type: 'service' },
  ]),
);

function code(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    return (e as SarkError).code;
  }
}

describe('identity', () => {
  const resolve = createIdentityResolver({ apiKeysFile: file, meshIdentityHeader: 'x-mesh-id', allowAnonymous: true });

  it('API key by bearer or X-API-Key, plain or hashed', () => {
    expect(resolve({ authorization: ['Bearer plain-key-0123456789'] })).toMatchObject({
      id: 'a1',
      roles: ['developer'],
      tenant: 't1',
    });
    expect(resolve({ 'x-api-key': ['hashed-key-0123456789'] })).toMatchObject({
      id: 'a2',
      type: 'service',
      authMethod: 'api_key',
    });
  });

  it('a wrong or malformed credential is refused, never downgraded to anonymous', () => {
    expect(code(() => resolve({ authorization: ['Bearer nope'] }))).toBe('SARK_UNAUTHENTICATED');
    expect(code(() => resolve({ authorization: ['Basic abc'] }))).toBe('SARK_UNAUTHENTICATED');
    expect(code(() => resolve({ authorization: ['Bearer plain-key-0123456789', 'Bearer x'] }))).toBe(
      'SARK_UNAUTHENTICATED',
    );
  });

  it('mesh identity, then anonymous', () => {
    expect(resolve({ 'x-mesh-id': ['spiffe://td/ns/a/sa/b'] })).toMatchObject({
      authMethod: 'mesh',
      authenticated: true,
    });
    expect(code(() => resolve({ 'x-mesh-id': ['a', 'b'] }))).toBe('SARK_UNAUTHENTICATED');
    expect(resolve({})).toBe(ANONYMOUS);
  });

  it('anonymous can be disabled', () => {
    const strict = createIdentityResolver({ allowAnonymous: false });
    expect(code(() => strict({}))).toBe('SARK_UNAUTHENTICATED');
  });

  it('a bad keys file fails at start-up naming the entry', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ key: 'short', agentId: 'x' }]));
    expect(() => createIdentityResolver({ apiKeysFile: bad, allowAnonymous: true })).toThrow(ConfigError);
    expect(() => createIdentityResolver({ apiKeysFile: bad, allowAnonymous: true })).toThrow(/\[0\.key\]/);
  });
});
