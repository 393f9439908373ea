/**
 * The passthrough allow-list: validated at start-up, and never matching a
 * path the server could read as its MCP endpoint.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { createPassthrough } from '../../../src/listen/passthrough.ts';

const make = (paths: string[], upstreamUrl = 'http://127.0.0.1:3000/mcp') =>
  createPassthrough({ upstreamUrl, paths, protectedPaths: ['/mcp', '/sse', '/messages'], timeoutMs: 1000 });

describe('createPassthrough', () => {
  it('is off with no paths', () => {
    expect(make([])).toBeUndefined();
  });

  it('matches exact entries and /* prefixes on a segment boundary', () => {
    const p = make(['/healthz', '/metrics/*'])!;
    expect(p.matches('/healthz')).toBe(true);
    expect(p.matches('/metrics/app')).toBe(true);
    expect(p.matches('/metrics/a/b')).toBe(true);
    expect(p.matches('/metrics/')).toBe(false);
    expect(p.matches('/metrics')).toBe(false);
    expect(p.matches('/metricsx')).toBe(false);
    expect(p.matches('/healthz/')).toBe(false);
    expect(p.matches('/Healthz')).toBe(false);
    p.close();
  });

  it.each(['/metrics/../mcp', '/metrics/./x', '/metrics/%2e%2e/mcp', '/metrics//x', '/metrics/a\\b', '/metrics/.x'])(
    'never matches a path that is not plain: %s',
    (path) => {
      const p = make(['/metrics/*'])!;
      expect(p.matches(path)).toBe(false);
      p.close();
    },
  );

  it('refuses at start-up any entry covering an MCP path of SARK or of the upstream, in any case', () => {
    expect(() => make(['/api/*'], 'http://127.0.0.1:3000/api/mcp')).toThrow(/would pass the MCP path \/api\/mcp/);
    expect(() => make(['/API/*'], 'http://127.0.0.1:3000/api/mcp')).toThrow(/would pass the MCP path/);
    const p = make(['/api/*'], 'http://127.0.0.1:3000/v1/mcp')!;
    expect(p.matches('/api/other')).toBe(true);
    p.close();
  });

  it.each([
    [['/mcp'], /\/mcp is an MCP path/],
    [['/MCP/'], /is an MCP path/],
    [['/sse'], /is an MCP path/],
    [['/m*'], /not an absolute path or a \/\* prefix/],
  ])('refuses at start-up: %j', (paths, message) => {
    expect(() => make(paths)).toThrow(message);
  });

  it('refuses a prefix that covers the upstream MCP path', () => {
    expect(() => make(['/v1/*'], 'http://127.0.0.1:3000/v1/mcp')).toThrow(/would pass the MCP path \/v1\/mcp/);
  });

  it('the config knob refuses entries that are not plain paths', () => {
    expect(() => loadConfig({ env: { SARK_PASSTHROUGH_PATHS: '/a/../b' } })).toThrow(/passthroughPaths/);
    expect(() => loadConfig({ env: { SARK_PASSTHROUGH_PATHS: '/a%2fb' } })).toThrow(/passthroughPaths/);
    expect(loadConfig({ env: { SARK_PASSTHROUGH_PATHS: ' /healthz , /metrics/* ' } }).passthroughPaths).toEqual([
      '/healthz',
      '/metrics/*',
    ]);
  });
});
