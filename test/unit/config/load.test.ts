import { describe, expect, it } from 'vitest';
import { loadConfig, splitAddress } from '../../../src/config/load.ts';
import { fields } from '../../../src/config/schema.ts';
import { ConfigError } from '../../../src/errors.ts';

describe('loadConfig', () => {
  it('has a default for every required knob', () => {
    const c = loadConfig({ env: {} });
    expect(c.listen).toBe('127.0.0.1:8080');
    expect(c.opaTimeoutMs).toBe(25);
    expect(c.maxBodyBytes).toBe(1024 * 1024);
    expect(c.opaUrl).toBeUndefined();
    expect(c.upstreamUrl).toBeUndefined();
  });

  it('flag beats environment beats default', () => {
    const env = { SARK_OPA_TIMEOUT_MS: '40', SARK_SERVER_ID: 'fs' };
    const c = loadConfig({ argv: ['--opa-timeout-ms', '60'], env });
    expect(c.opaTimeoutMs).toBe(60);
    expect(c.serverId).toBe('fs');
  });

  it('every field has a SARK_ variable, a flag and a doc line', () => {
    for (const f of fields) {
      expect(f.env).toMatch(/^SARK_[A-Z0-9_]+$/);
      expect(f.flag).toMatch(/^[a-z0-9-]+$/);
      expect(f.doc.length).toBeGreaterThan(10);
    }
    expect(new Set(fields.map((f) => f.env)).size).toBe(fields.length);
  });

  it('names the field, its source and the expected form', () => {
    expect(() => loadConfig({ env: { SARK_MAX_BODY_BYTES: '-1' } })).toThrow(
      /maxBodyBytes \(SARK_MAX_BODY_BYTES\) = "-1": expected an integer >= 64/,
    );
    expect(() => loadConfig({ argv: ['--opa-url', 'not a url'] })).toThrow(ConfigError);
    expect(() => loadConfig({ argv: ['--opa-decision-path', '/v1/data/x'] })).toThrow(/opaDecisionPath/);
    expect(() => loadConfig({ argv: ['--allow-anonymous', 'maybe'] })).toThrow(/allowAnonymous/);
  });

  it('reads the registry settings from their GATEWAY_* aliases', () => {
    const c = loadConfig({
      env: { GATEWAY_ENABLED: 'true', GATEWAY_URL: 'https://registry.example', GATEWAY_API_KEY: 'k-1' },
    });
    expect(c.gatewayEnabled).toBe(true);
    expect(c.gatewayUrl).toBe('https://registry.example');
    expect(c.gatewayApiKey).toBe('k-1');
    expect(loadConfig({ env: {} }).gatewayEnabled).toBe(false);
    // The SARK_* name, the alias and a flag: flag > environment; the same value twice is fine.
    const both = loadConfig({
      argv: ['--gateway-url', 'https://flag.example'],
      env: { SARK_GATEWAY_ENABLED: '1', GATEWAY_ENABLED: '1', GATEWAY_URL: 'https://env.example' },
    });
    expect(both.gatewayEnabled).toBe(true);
    expect(both.gatewayUrl).toBe('https://flag.example');
  });

  it('refuses a SARK_* variable and its alias set to different values, naming both', () => {
    expect(() =>
      loadConfig({ env: { SARK_GATEWAY_URL: 'https://a.example', GATEWAY_URL: 'https://b.example' } }),
    ).toThrow(/gatewayUrl: SARK_GATEWAY_URL and GATEWAY_URL are both set, to different values/);
    expect(() => loadConfig({ env: { GATEWAY_ENABLED: 'yes' } })).toThrow(/gatewayEnabled \(GATEWAY_ENABLED\) = "yes"/);
  });

  it("no alias is another field's variable", () => {
    const names = fields.flatMap((f) => [f.env, ...(f.envAliases ?? [])]);
    expect(new Set(names).size).toBe(names.length);
    expect(fields.filter((f) => f.envAliases).map((f) => f.envAliases)).toEqual([
      ['GATEWAY_ENABLED'],
      ['GATEWAY_URL'],
      ['GATEWAY_API_KEY'],
    ]);
  });

  it('splits addresses', () => {
    expect(splitAddress('127.0.0.1:80')).toEqual({ host: '127.0.0.1', port: 80 });
    expect(splitAddress('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
  });
});

describe('configuration edges', () => {
  it('refuses an unknown flag, and one without a value, naming it', () => {
    expect(() => loadConfig({ argv: ['--no-such-flag', 'x'] })).toThrow(ConfigError);
    expect(() => loadConfig({ argv: ['--listen'] })).toThrow(/listen/);
  });

  it('splits host:port, IPv6 in brackets', () => {
    expect(splitAddress('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(splitAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
  });

  it('lists hosts and origins as lists, and refuses what is not one', () => {
    const c = loadConfig({
      env: { SARK_ALLOWED_HOSTS: 'mcp.svc,mcp.svc:8080', SARK_ALLOWED_ORIGINS: 'https://a.example' },
    });
    expect(c.allowedHosts).toEqual(['mcp.svc', 'mcp.svc:8080']);
    expect(c.allowedOrigins).toEqual(['https://a.example']);
    expect(() => loadConfig({ env: { SARK_ALLOWED_ORIGINS: 'a.example' } })).toThrow(/allowedOrigins/);
  });
});

describe('sark --help', () => {
  it('documents every flag with its variable and default', async () => {
    const { configHelp } = await import('../../../src/config/load.ts');
    const help = configHelp();
    for (const f of fields) expect(help).toContain(`--${f.flag} <`);
    expect(help).toMatch(/--opa-timeout-ms <integer>\n\s+.*\n\s+env SARK_OPA_TIMEOUT_MS, default 25/);
  });
});
