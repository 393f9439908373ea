/**
 * .env.gateway.example stays truthful: every variable it names is one SARK
 * reads, the commented defaults are the schema's, and the file as written
 * (with its placeholders) loads into a config with the registry on.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../src/config/load.ts';
import { fields } from '../../../../src/config/schema.ts';

const text = readFileSync(new URL('../../../../.env.gateway.example', import.meta.url), 'utf8');
const entries = [...text.matchAll(/^(#?)([A-Z][A-Z0-9_]+)=(.*)$/gm)].map(([, commented, name, value]) => ({
  commented: commented === '#',
  name: name!,
  value: value!,
}));

describe('.env.gateway.example', () => {
  it('names only variables SARK reads, each registry setting once', () => {
    const byName = new Map(fields.flatMap((f) => [f.env, ...(f.envAliases ?? [])].map((n) => [n, f] as const)));
    for (const e of entries) expect(byName.has(e.name), e.name).toBe(true);
    const gateway = fields.filter((f) => f.key.startsWith('gateway'));
    expect(entries.map((e) => byName.get(e.name)!.key).sort()).toEqual(gateway.map((f) => f.key).sort());
  });

  it('shows the schema defaults for the commented settings', () => {
    const defaults = loadConfig({ env: {} }) as unknown as Record<string, unknown>;
    for (const e of entries.filter((x) => x.commented && x.name !== 'SARK_GATEWAY_SERVER_PATH')) {
      const f = fields.find((x) => x.env === e.name)!;
      expect(String(defaults[f.key]), e.name).toBe(e.value);
    }
  });

  it('loads as written, with the registry on', () => {
    const env = Object.fromEntries(entries.filter((e) => !e.commented).map((e) => [e.name, e.value]));
    const c = loadConfig({ env });
    expect([c.gatewayEnabled, c.gatewayUrl, c.gatewayApiKey]).toEqual([
      true,
      'https://registry.example.internal',
      'replace-with-a-registry-token',
    ]);
  });
});
