/**
 * Turning the registry off restores today's behaviour exactly: the policy
 * input and the decision cache key, byte for byte, are those of the code
 * before the registry existed (input.golden.json was written by it, for the
 * messages of test/support/input-cases.ts). With a registry, the same inputs
 * gain its facts, stay valid against the input schema, and key differently.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { Ajv } from 'ajv';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { argumentsKey, baseKey } from '../../../src/decide/cache-key.ts';
import { buildInput } from '../../../src/decide/input.ts';
import { serverRecord, toRegistryServer } from '../../../src/decide/registry/records.ts';
import { createRegistry } from '../../../src/decide/registry/registry.ts';
import { RegistrySnapshot, SnapshotView } from '../../../src/decide/registry/view.ts';
import { createLogger } from '../../../src/observe/logger.ts';
import { GOLDEN_CASES, GOLDEN_META } from '../../support/input-cases.ts';

const golden = JSON.parse(readFileSync(new URL('./input.golden.json', import.meta.url), 'utf8')) as Record<
  string,
  { input: string; key: string }
>;
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validInput = ajv.compile(
  JSON.parse(readFileSync(new URL('../../../opa/schemas/input.schema.json', import.meta.url), 'utf8')),
);

describe('policy input without the registry', () => {
  it('covers every golden case', () => {
    expect(GOLDEN_CASES.map(([name]) => name).sort()).toEqual(Object.keys(golden).sort());
  });

  it.each(GOLDEN_CASES)('%s: byte-identical input and cache key', (name, msg, who) => {
    for (const input of [
      buildInput('demo', msg, who, GOLDEN_META),
      buildInput('demo', msg, who, GOLDEN_META, undefined),
    ]) {
      expect(JSON.stringify(input)).toBe(golden[name]!.input);
      expect(argumentsKey(baseKey('rev-1', input), input)).toBe(golden[name]!.key);
    }
  });

  it("an identity's agent document is built once, frozen, and keys as a fresh copy of it would", () => {
    const [, msg, who] = GOLDEN_CASES[0]!;
    const a = buildInput('demo', msg, who, GOLDEN_META);
    const b = buildInput('demo', msg, who, GOLDEN_META);
    expect(b.agent).toBe(a.agent);
    expect(Object.isFrozen(a.agent)).toBe(true);
    const copy = { ...a, agent: { ...(a.agent as object) } } as typeof a; // not frozen: serialized afresh
    expect(baseKey('rev-1', copy)).toBe(baseKey('rev-1', a));
  });

  it('gatewayEnabled off (the default, or false through GATEWAY_ENABLED) builds no registry client', () => {
    const prom = new Registry();
    const logger = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));
    expect(createRegistry(loadConfig({ env: {} }), prom, logger)).toBeUndefined();
    expect(
      createRegistry(loadConfig({ env: { GATEWAY_ENABLED: 'false', GATEWAY_URL: 'http://r.example' } }), prom, logger),
    ).toBeUndefined();
    // Nothing of the registry is registered either.
    expect(prom.getMetricsAsArray().filter((m) => m.name.startsWith('sark_registry'))).toEqual([]);
  });

  it('gatewayEnabled without gatewayUrl stops start-up', () => {
    const logger = createLogger('silent');
    expect(() => createRegistry(loadConfig({ env: { GATEWAY_ENABLED: 'true' } }), new Registry(), logger)).toThrow(
      /gatewayUrl .* is required when gatewayEnabled/,
    );
  });
});

describe('policy input with the registry', () => {
  const demo = toRegistryServer(
    serverRecord.parse({
      path: '/demo',
      server_name: 'Demo',
      visibility: 'group-restricted',
      allowed_groups: ['developer'],
      metadata: { owner: 'alice', data_classification: 'internal' },
      tags: ['demo'],
    }),
    { path: '/demo', enabled: true },
    [{ name: 'echo', description: null, sensitivity: ['confidential'], tags: [] }],
  );
  const view = new SnapshotView(() => new RegistrySnapshot([demo], 0));

  it.each(GOLDEN_CASES)('%s: gains the facts, stays schema-valid, keys differently', (name, msg, who) => {
    const input = buildInput('demo', msg, who, GOLDEN_META, view);
    expect(validInput(input), JSON.stringify(validInput.errors)).toBe(true);
    expect(input.server.registry).toMatchObject({ available: true, listed: true, visibility: 'group-restricted' });
    if (input.tool)
      expect(input.tool.registry).toEqual(
        input.tool.name === 'echo' ? { listed: true, sensitivity: ['confidential'], tags: [] } : { listed: false },
      );
    expect(argumentsKey(baseKey('rev-1', input), input)).not.toBe(golden[name]!.key);
    // Everything else is as without the registry.
    const plain = JSON.parse(golden[name]!.input);
    const { registry: _s, ...server } = input.server;
    expect({ ...input, server, tool: input.tool && { name: input.tool.name } }).toEqual({
      ...plain,
      tool: plain.tool,
    });
  });

  it('tools/list carries every listed tool; the server list every server', () => {
    const list = buildInput(
      'demo',
      GOLDEN_CASES.find(([n]) => n === 'tools/list')![1],
      GOLDEN_CASES[0]![2],
      GOLDEN_META,
      view,
    );
    expect(list.server.registry).toMatchObject({ tools: { echo: { listed: true, sensitivity: ['confidential'] } } });
    const ping = GOLDEN_CASES.find(([n]) => n === 'ping')![1];
    const servers = buildInput(
      'demo',
      { ...ping, action: 'gateway:server:list' },
      GOLDEN_CASES[0]![2],
      GOLDEN_META,
      view,
    );
    expect(validInput(servers), JSON.stringify(validInput.errors)).toBe(true);
    expect(Object.keys(servers.registry!.servers)).toEqual(['demo']);
    expect(servers.registry!.servers.demo).toMatchObject({ tools: { echo: { listed: true } } });
  });

  it('a registry change changes the key: no decision made on old facts is served', () => {
    const msg = GOLDEN_CASES.find(([n]) => n === 'tools/call')![1];
    const who = GOLDEN_CASES.find(([n]) => n === 'tools/call')![2];
    const before = buildInput('demo', msg, who, GOLDEN_META, view);
    const changed = new SnapshotView(() => new RegistrySnapshot([{ ...demo, visibility: 'private' }], 0));
    const after = buildInput('demo', msg, who, GOLDEN_META, changed);
    expect(baseKey('r', after)).not.toBe(baseKey('r', before));
    const unavailable = buildInput('demo', msg, who, GOLDEN_META, new SnapshotView(() => undefined));
    expect(unavailable.server.registry).toEqual({ available: false, listed: false });
    expect(validInput(unavailable)).toBe(true);
  });
});
