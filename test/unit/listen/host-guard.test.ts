import { describe, expect, it } from 'vitest';
import { HostGuard } from '../../../src/listen/host-guard.ts';

const h = (host?: string, origin?: string) => ({
  ...(host === undefined ? {} : { host: [host] }),
  ...(origin === undefined ? {} : { origin: [origin] }),
});

describe('host guard (DNS rebinding)', () => {
  it('on loopback with nothing configured: localhost names and origins only', () => {
    const g = new HostGuard({ listen: '127.0.0.1:8080', allowedHosts: undefined, allowedOrigins: undefined });
    expect(g.check(h('127.0.0.1:8080'))).toBeUndefined();
    expect(g.check(h('localhost:8080', 'http://localhost:6274'))).toBeUndefined();
    expect(g.check(h('[::1]:8080', 'http://[::1]:3000'))).toBeUndefined();
    expect(g.check(h('evil.example.com'))?.code).toBe('SARK_HOST_NOT_ALLOWED');
    expect(g.check(h('127.0.0.1:8080', 'http://evil.example.com'))?.code).toBe('SARK_ORIGIN_NOT_ALLOWED');
    expect(g.check(h('127.0.0.1:8080', 'null'))?.code).toBe('SARK_ORIGIN_NOT_ALLOWED');
    expect(g.check({})?.code).toBe('SARK_HOST_NOT_ALLOWED');
  });

  it('off loopback with nothing configured: any Host, but no Origin', () => {
    const g = new HostGuard({ listen: '0.0.0.0:8080', allowedHosts: undefined, allowedOrigins: undefined });
    expect(g.check(h('mcp.svc.cluster.local:8080'))).toBeUndefined();
    expect(g.check(h('mcp', 'http://localhost'))?.code).toBe('SARK_ORIGIN_NOT_ALLOWED');
  });

  it('configured names and origins; a name with a port pins the port', () => {
    const g = new HostGuard({
      listen: '0.0.0.0:8080',
      allowedHosts: ['mcp.tools.svc', 'mcp.tools.svc.cluster.local:8080'],
      allowedOrigins: ['https://agent.example.com'],
    });
    expect(g.check(h('MCP.tools.svc:9999'))).toBeUndefined();
    expect(g.check(h('mcp.tools.svc.cluster.local:8080', 'https://agent.example.com'))).toBeUndefined();
    expect(g.check(h('mcp.tools.svc.cluster.local:8081'))?.code).toBe('SARK_HOST_NOT_ALLOWED');
    expect(g.check(h('mcp.tools.svc', 'https://agent.example.com:444'))?.code).toBe('SARK_ORIGIN_NOT_ALLOWED');
    expect(g.check({ host: ['mcp.tools.svc', 'evil'] })?.code).toBe('SARK_HOST_NOT_ALLOWED');
  });

  it("this host's own IP addresses are always a valid Host (kubelet probes name the pod by IP)", () => {
    const g = new HostGuard({
      listen: '0.0.0.0:8080',
      allowedHosts: ['mcp.tools.svc'],
      allowedOrigins: undefined,
      localAddresses: ['10.1.2.3', '[fd00::5]'],
    });
    expect(g.check(h('10.1.2.3:8080'))).toBeUndefined();
    expect(g.check(h('[fd00::5]:8080'))).toBeUndefined();
    expect(g.check(h('10.1.2.4:8080'))?.code).toBe('SARK_HOST_NOT_ALLOWED');
    // The Origin rule still holds for them.
    expect(g.check(h('10.1.2.3:8080', 'http://evil.example.com'))?.code).toBe('SARK_ORIGIN_NOT_ALLOWED');
  });

  it('refuses configuration that is not a host or an origin at start-up', () => {
    expect(() => new HostGuard({ listen: '0.0.0.0:1', allowedHosts: ['a:b'], allowedOrigins: undefined })).toThrow(
      /allowedHosts/,
    );
    expect(
      () => new HostGuard({ listen: '0.0.0.0:1', allowedHosts: undefined, allowedOrigins: ['https://a/b'] }),
    ).toThrow(/allowedOrigins/);
  });
});
