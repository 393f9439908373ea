/**
 * The registry client against a real HTTP stand-in on loopback
 * (test/support/registry-server.ts): paging, bearer auth, deadlines, retries
 * with backoff and jitter, the breaker, malformed and partial answers, and
 * the last good data serving through every failure.
 */
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatewayRegistry, type RegistryOptions } from '../../../../src/decide/registry/registry.ts';
import { createLogger } from '../../../../src/observe/logger.ts';
import { createRegistryMetrics } from '../../../../src/observe/metrics.ts';
import { type RegistryStandIn, type StandInServer, startRegistryStandIn } from '../../../support/registry-server.ts';

const silent = createLogger('debug', new Writable({ write: (_c, _e, cb) => cb() }));

function server(path: string, extra: Partial<StandInServer> = {}): StandInServer {
  return {
    path,
    server_name: `Server ${path}`,
    visibility: 'public',
    registered_by: 'admin',
    tools: [{ name: 'echo', description: 'echo', inputSchema: { type: 'object' } }],
    ...extra,
  };
}

const FIVE = ['/a', '/b/', '/c', '/d', '/e'].map((p) => server(p));

describe('GatewayRegistry against the registry stand-in', () => {
  let standIn: RegistryStandIn;
  let prom: Registry;
  let clock: number;
  let sleeps: number[];
  const open: GatewayRegistry[] = [];

  function client(overrides: Partial<RegistryOptions> = {}): GatewayRegistry {
    const r = new GatewayRegistry(
      {
        url: standIn.url,
        apiKey: standIn.token,
        serverId: 'a',
        serverPath: undefined,
        timeoutMs: 300,
        retries: 2,
        retryBaseMs: 100,
        retryMaxMs: 1_000,
        maxResponseBytes: 64 * 1024,
        breakerResetMs: 60_000,
        refreshIntervalMs: 60_000,
        cacheTtlMs: 120_000,
        startupWaitMs: 0,
        pageSize: 2,
        concurrency: 2,
        now: () => clock,
        random: () => 0.5,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        ...overrides,
      },
      createRegistryMetrics(prom),
      silent,
    );
    open.push(r);
    return r;
  }

  const metric = async (name: string) => (await prom.metrics()).split('\n').filter((l) => l.startsWith(name));

  beforeEach(async () => {
    standIn = await startRegistryStandIn(structuredClone(FIVE));
    prom = new Registry();
    clock = 1_000_000;
    sleeps = [];
  });

  afterEach(async () => {
    for (const r of open.splice(0)) await r.close();
    await standIn.close();
  });

  it('follows the cursor through every page, with the bearer token, GET only', async () => {
    const r = client();
    expect(await r.refresh()).toBe('ok');
    expect(r.view.servers().map((s) => s.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const lists = standIn.requests.filter((q) => q.route === 'servers').map((q) => q.url);
    expect(lists).toEqual([
      '/v0.1/servers?limit=2',
      '/v0.1/servers?limit=2&cursor=io.mcpgateway%2Fb',
      '/v0.1/servers?limit=2&cursor=io.mcpgateway%2Fd',
    ]);
    expect(standIn.requests.every((q) => q.authorized && q.method === 'GET')).toBe(true);
    // The trailing slash of a registry path is kept in the calls, as the registry stores it.
    expect(standIn.requests.map((q) => q.url)).toContain('/api/servers/tools/b/');
    expect(r.view.tools('b')?.map((t) => t.name)).toEqual(['echo']);
    expect(r.status()).toEqual({
      state: 'fresh',
      age_seconds: 0,
      servers: 5,
      last_refresh: 'ok',
      last_error: null,
      consecutive_failures: 0,
    });
    expect(await metric('sark_registry_staleness_seconds ')).toEqual(['sark_registry_staleness_seconds 0']);
    expect(await metric('sark_registry_servers ')).toEqual(['sark_registry_servers 5']);
  });

  it('before any read: unavailable facts, +Inf staleness', async () => {
    standIn.fault('*', { kind: 'status', status: 503 });
    const r = client({ retries: 0 });
    expect(await r.refresh()).toBe('failed');
    expect(r.view.serverFacts('a')).toEqual({ available: false, listed: false });
    expect(r.status()).toMatchObject({ state: 'unavailable', last_error: 'registry_unavailable:http_5xx' });
    expect(await metric('sark_registry_staleness_seconds ')).toEqual(['sark_registry_staleness_seconds +Inf']);
    expect(await metric('sark_registry_up ')).toEqual(['sark_registry_up 0']);
  });

  it('retries a 5xx with exponential backoff and full jitter, and succeeds', async () => {
    standIn.fault('servers', { kind: 'status', status: 502 }, 2);
    const r = client();
    expect(await r.refresh()).toBe('ok');
    // random() = 0.5: half of base·2^attempt.
    expect(sleeps).toEqual([50, 100]);
    expect(await metric('sark_registry_requests_total{endpoint="servers",outcome="http_5xx"}')).toEqual([
      'sark_registry_requests_total{endpoint="servers",outcome="http_5xx"} 2',
    ]);
  });

  it('honours Retry-After on a 429, capped by retryMaxMs', async () => {
    standIn.fault('servers', { kind: 'status', status: 429, retryAfter: '0.4' }, 1);
    const r = client();
    expect(await r.refresh()).toBe('ok');
    expect(sleeps).toEqual([400]);
    standIn.fault('servers', { kind: 'status', status: 429, retryAfter: '60' }, 1);
    sleeps = [];
    expect(await r.refresh()).toBe('ok');
    expect(sleeps).toEqual([1_000]);
  });

  it('does not retry an answer: 401 with a wrong token, 404', async () => {
    const r = client({ apiKey: 'wrong' });
    expect(await r.refresh()).toBe('failed');
    expect(standIn.requests).toHaveLength(1);
    expect(r.status().last_error).toBe('registry_unavailable:http_4xx');
    expect(sleeps).toEqual([]);
  });

  it('a slow registry: the deadline ends each attempt, retries run out, the last good data stays', async () => {
    const r = client();
    expect(await r.refresh()).toBe('ok');
    const before = r.view.serverFacts('c');
    standIn.fault('servers', { kind: 'slow', delayMs: 1_000 });
    clock += 200_000;
    const started = performance.now();
    expect(await r.refresh()).toBe('failed');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(r.status()).toMatchObject({ state: 'stale', last_error: 'registry_unavailable:timeout', servers: 5 });
    expect(r.view.serverFacts('c')).toBe(before);
    expect(standIn.requests.filter((q) => q.route === 'servers').length).toBe(3 + 3);
    expect(await metric('sark_registry_staleness_seconds ')).toEqual(['sark_registry_staleness_seconds 200']);
  });

  it('a body that stops mid-way is a timeout, not a hang', async () => {
    standIn.fault('servers', { kind: 'stall' });
    const r = client({ retries: 0 });
    expect(await r.refresh()).toBe('failed');
    expect(r.status().last_error).toBe('registry_unavailable:timeout');
  });

  it('connection resets and a registry that is down are retried, then the last good data stays', async () => {
    const r = client();
    expect(await r.refresh()).toBe('ok');
    standIn.fault('*', { kind: 'reset' });
    expect(await r.refresh()).toBe('failed');
    expect(r.status().last_error).toBe('registry_unavailable:network');
    expect(sleeps).toHaveLength(2);
    standIn.clear();
    await standIn.down();
    expect(await r.refresh()).toBe('failed');
    expect(r.view.servers()).toHaveLength(5);
    expect(r.view.serverFacts('a')).toMatchObject({ available: true, listed: true });
    await standIn.up();
    expect(await r.refresh()).toBe('ok');
    expect(r.status().consecutive_failures).toBe(0);
  });

  it('malformed lists fail the refresh without retries: not JSON, wrong shape, too large, endless cursor', async () => {
    const r = client();
    expect(await r.refresh()).toBe('ok');
    for (const [fault, error] of [
      [{ kind: 'garbage' }, 'registry_malformed:malformed'],
      [{ kind: 'shape' }, 'registry_malformed:malformed'],
      [{ kind: 'huge', bytes: 100_000 }, 'registry_malformed:too_large'],
    ] as const) {
      standIn.fault('servers', fault);
      expect(await r.refresh()).toBe('failed');
      expect(r.status().last_error).toBe(error);
      standIn.clear();
    }
    standIn.fault('servers', { kind: 'loop' });
    expect(await r.refresh()).toBe('failed');
    expect(r.status().last_error).toBe('registry_malformed:malformed');
    expect(standIn.requests.filter((q) => q.url.includes('cursor=io.mcpgateway%2Floop'))).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(r.view.servers()).toHaveLength(5);
  });

  it('one server whose record or tools fail keeps its last good data (partial)', async () => {
    const r = client();
    expect(await r.refresh()).toBe('ok');
    const cBefore = r.view.server('c');
    standIn.servers = standIn.servers.map((s) =>
      s.path === '/c' ? { ...s, visibility: 'private' } : s.path === '/d' ? { ...s, tools: [] } : s,
    );
    standIn.servers.push(server('/f'));
    // c's record comes back in the wrong shape; d's and f's tools fail (every retry).
    standIn.fault('details', { kind: 'shape' }, 1, '/c');
    standIn.fault('tools', { kind: 'status', status: 503 }, 3, '/d');
    standIn.fault('tools', { kind: 'status', status: 503 }, 3, '/f');
    expect(await r.refresh()).toBe('partial');
    // c is the last good c, record and tools; its change to private is not seen (a deny would be, on the next read).
    expect(r.view.server('c')).toBe(cBefore);
    // d keeps its last good tools; f was never read: its tools are unknown.
    expect(r.view.tools('d')?.map((t) => t.name)).toEqual(['echo']);
    expect(r.view.server('f')?.tools).toBeNull();
    expect(r.view.serverFacts('f')).toMatchObject({ listed: true, visibility: 'public', tools_known: false });
    expect(r.status()).toMatchObject({ last_refresh: 'partial', state: 'fresh' });
    expect(r.status().last_error).toMatch(
      /^(c: record registry_malformed:malformed|[df]: tools registry_unavailable:http_5xx)$/,
    );
    expect(await metric('sark_registry_refreshes_total{result="partial"}')).toEqual([
      'sark_registry_refreshes_total{result="partial"} 1',
    ]);
    // The next clean read takes every change.
    expect(await r.refresh()).toBe('ok');
    expect(r.view.server('c')?.visibility).toBe('private');
    expect(r.view.tools('d')).toEqual([]);
  });

  it('a server never read whose record fails is listed with no visibility', async () => {
    standIn.fault('details', { kind: 'status', status: 500 });
    const r = client({ retries: 0 });
    expect(await r.refresh()).toBe('partial');
    expect(r.view.serverFacts('a')).toMatchObject({ listed: true, visibility: null, tools_known: false });
    expect(standIn.requests.filter((q) => q.route === 'tools')).toHaveLength(0);
  });

  it("does not ask for a disabled server's tools", async () => {
    standIn.servers = [server('/a', { is_enabled: false })];
    const r = client();
    expect(await r.refresh()).toBe('ok');
    expect(r.view.serverFacts('a')).toMatchObject({ enabled: false, tools_known: false });
    expect(standIn.requests.filter((q) => q.route === 'tools')).toHaveLength(0);
  });

  it('the breaker opens on repeated failures and refuses without calling the registry', async () => {
    standIn.fault('*', { kind: 'status', status: 503 });
    const r = client({ retries: 1 });
    for (let i = 0; i < 3; i++) await r.refresh();
    const reached = standIn.requests.length;
    expect(await r.refresh()).toBe('failed');
    expect(standIn.requests.length).toBe(reached);
    expect(r.status().last_error).toBe('registry_unavailable:breaker_open');
    expect(await metric('sark_registry_breaker_state ')).toEqual(['sark_registry_breaker_state 2']);
  });

  it('joins a refresh already running', async () => {
    standIn.fault('servers', { kind: 'slow', delayMs: 100 }, 1);
    const r = client();
    const [x, y] = await Promise.all([r.refresh(), r.refresh()]);
    expect([x, y]).toEqual(['ok', 'ok']);
    expect(standIn.requests.filter((q) => q.route === 'servers')).toHaveLength(3);
  });
});
