/**
 * The registry through a real sidecar: the official MCP SDK client talks
 * through SARK (GATEWAY_* variables) to the demo server, a real OPA decides
 * with the registry's facts read from the registry stand-in. A registry fact
 * changes a decision (and the decision cache does not hide it); while the
 * registry is down the last good data keeps deciding, flagged in /readyz
 * and the staleness metric; a server that requires the registry is denied
 * until SARK has read it.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../../../src/sidecar.ts';
import { type RegistryStandIn, type StandInServer, startRegistryStandIn } from '../../../support/registry-server.ts';
import { ROOT, type Service, startOpa, waitFor } from '../../../support/services.ts';
import { connectV1Client, startTestSidecar } from '../../../support/sidecar.ts';

const DEMO: StandInServer = {
  path: '/demo',
  server_name: 'Demo',
  visibility: 'public',
  registered_by: 'admin',
  metadata: { owner: 'platform-team', data_classification: 'public' },
  tools: [
    { name: 'echo', inputSchema: { type: 'object' } },
    { name: 'add', inputSchema: { type: 'object' } },
    { name: 'get_time', inputSchema: { type: 'object' } },
  ],
};

async function readyz(sidecar: Sidecar): Promise<{ status: number; body: any }> {
  const res = await fetch(`${sidecar.adminUrl}/readyz`);
  return { status: res.status, body: await res.json() };
}

async function metric(sidecar: Sidecar, name: string): Promise<string | undefined> {
  const text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
  // Every series carries the server label: report it as `name value`.
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line?.replace(/^([a-z_]+)\{[^}]*\}/, '$1');
}

function gatewayEnv(standIn: RegistryStandIn): NodeJS.ProcessEnv {
  return { GATEWAY_ENABLED: 'true', GATEWAY_URL: standIn.url, GATEWAY_API_KEY: standIn.token };
}

const GATEWAY_FLAGS = [
  '--gateway-refresh-interval-ms',
  '3600000',
  '--gateway-cache-ttl-ms',
  '1000',
  '--gateway-retries',
  '0',
  '--gateway-timeout-ms',
  '1000',
  '--opa-timeout-ms',
  '2000',
];

describe('the registry through a sidecar with real OPA', () => {
  let opa: Service;
  let standIn: RegistryStandIn;
  let sidecar: Sidecar;
  let client: Client;

  beforeAll(async () => {
    [opa, standIn] = await Promise.all([startOpa(), startRegistryStandIn([structuredClone(DEMO)])]);
    sidecar = await startTestSidecar(['--opa-url', opa.url, ...GATEWAY_FLAGS], gatewayEnv(standIn));
    client = await connectV1Client(sidecar.mcpUrl);
  });

  afterAll(async () => {
    await client?.close().catch(() => {});
    await sidecar?.close();
    await standIn?.close();
    await opa?.stop();
  });

  it('reads the registry at start-up, with the token from GATEWAY_API_KEY', async () => {
    expect(sidecar.registry?.view.server('demo')?.owner).toBe('platform-team');
    expect(standIn.requests.length).toBeGreaterThanOrEqual(3);
    expect(standIn.requests.every((r) => r.authorized)).toBe(true);
    const { status, body } = await readyz(sidecar);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ready', registry: { state: 'fresh', servers: 1, last_refresh: 'ok' } });
  });

  it('a registry sensitivity label hides a tool from tools/list and denies its call', async () => {
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['add', 'echo', 'get_time']);
    expect(await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).toMatchObject({
      content: [{ text: '3' }],
    });
    standIn.servers[0]!.tools![1] = {
      name: 'add',
      inputSchema: { type: 'object' },
      metadata: { sensitivity: 'confidential' },
    };
    expect(await sidecar.registry!.refresh()).toBe('ok');
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'get_time']);
    // The allow of a moment ago was cached; the new facts make a new key, and OPA denies.
    await expect(client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).rejects.toMatchObject({
      code: -32002,
      data: { reasons: [{ code: 'trust_insufficient' }] },
    });
  });

  it('keeps deciding on the last good data while the registry is down, and says so', async () => {
    await standIn.down();
    expect(await sidecar.registry!.refresh()).toBe('failed');
    // Past gatewayCacheTtlMs the data is stale: still served, flagged.
    await waitFor('stale registry data', async () => (await readyz(sidecar)).body.registry.state === 'stale', 5_000);
    const { status, body } = await readyz(sidecar);
    expect(status).toBe(200);
    expect(body.registry).toMatchObject({
      state: 'stale',
      servers: 1,
      last_refresh: 'failed',
      last_error: 'registry_unavailable:network',
    });
    expect(Number((await metric(sidecar, 'sark_registry_staleness_seconds'))?.split(' ')[1])).toBeGreaterThan(1);
    expect(await metric(sidecar, 'sark_registry_up')).toBe('sark_registry_up 0');
    // The last good data: echo allowed, add (confidential) denied, as before the outage.
    expect(await client.callTool({ name: 'echo', arguments: { text: 'still here' } })).toMatchObject({
      content: [{ text: 'still here' }],
    });
    await expect(client.callTool({ name: 'add', arguments: { a: 2, b: 2 } })).rejects.toMatchObject({ code: -32002 });
  });

  it('a visibility change read after the outage denies the agent', async () => {
    standIn.servers[0]!.visibility = 'private';
    await standIn.up();
    expect(await sidecar.registry!.refresh()).toBe('ok');
    expect((await readyz(sidecar)).body.registry).toMatchObject({ state: 'fresh', last_error: null });
    await expect(client.callTool({ name: 'echo', arguments: { text: 'x' } })).rejects.toMatchObject({
      code: -32002,
      data: { reasons: [{ code: 'registry_not_visible' }] },
    });
    // The server itself is hidden from the agent: even listing its tools is refused.
    await expect(client.listTools()).rejects.toMatchObject({ code: -32002 });
  });
});

describe('a server that requires the registry', () => {
  let opa: Service;
  let standIn: RegistryStandIn;
  let sidecar: Sidecar;
  let dataDir: string;

  beforeAll(async () => {
    // The example data with demo requiring the registry (its index entries then step aside).
    dataDir = mkdtempSync(join(tmpdir(), 'sark-registry-data-'));
    cpSync(join(ROOT, 'opa/data'), dataDir, { recursive: true });
    const data = JSON.parse(readFileSync(join(dataDir, 'data.json'), 'utf8'));
    data.sark.servers.demo.registry_required = true;
    writeFileSync(join(dataDir, 'data.json'), JSON.stringify(data));
    [opa, standIn] = await Promise.all([
      startOpa({ paths: [join(ROOT, 'opa/policies'), dataDir] }),
      startRegistryStandIn([structuredClone(DEMO)]),
    ]);
    standIn.fault('*', { kind: 'status', status: 503 });
    sidecar = await startTestSidecar(
      ['--opa-url', opa.url, ...GATEWAY_FLAGS, '--gateway-startup-wait-ms', '0'],
      gatewayEnv(standIn),
    );
  });

  afterAll(async () => {
    await sidecar?.close();
    await standIn?.close();
    await opa?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is denied (fail closed) until SARK has read the registry, then allowed', async () => {
    await waitFor('the first refresh to fail', async () => sidecar.registry!.status().last_refresh === 'failed', 5_000);
    expect((await readyz(sidecar)).body.registry).toMatchObject({ state: 'unavailable', servers: 0 });
    expect(await metric(sidecar, 'sark_registry_staleness_seconds')).toBe('sark_registry_staleness_seconds +Inf');
    const denied = await connectV1Client(sidecar.mcpUrl).catch((err: unknown) => err);
    expect(denied).toMatchObject({ code: -32002 });
    standIn.clear();
    expect(await sidecar.registry!.refresh()).toBe('ok');
    const client = await connectV1Client(sidecar.mcpUrl);
    expect(await client.callTool({ name: 'echo', arguments: { text: 'vouched for' } })).toMatchObject({
      content: [{ text: 'vouched for' }],
    });
    // A tool the registry does not list is refused on a server that requires it.
    await expect(client.callTool({ name: 'delete_file', arguments: {} })).rejects.toMatchObject({
      code: -32002,
    });
    await client.close();
  });
});

describe('the decision API with the registry', () => {
  let opa: Service;
  let standIn: RegistryStandIn;
  let sidecar: Sidecar;
  let dir: string;
  const ADMIN = 'admin-key-0123456789abcdef';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sark-registry-api-'));
    writeFileSync(
      join(dir, 'keys.json'),
      JSON.stringify([{ key: ADMIN, agentId: 'admin-1', roles: ['admin'], trustLevel: 'high' }]),
    );
    [opa, standIn] = await Promise.all([
      startOpa(),
      startRegistryStandIn([
        { ...structuredClone(DEMO), description: 'The bundled demo', tags: ['demo'] },
        // files: private to someone else, so the admin is not shown it.
        { path: '/files', server_name: 'Files', visibility: 'private', registered_by: 'carol', tools: [] },
      ]),
    ]);
    sidecar = await startTestSidecar(
      [
        '--opa-url',
        opa.url,
        ...GATEWAY_FLAGS,
        '--api-listen',
        '127.0.0.1:0',
        '--api-keys-file',
        join(dir, 'keys.json'),
      ],
      gatewayEnv(standIn),
    );
  });

  afterAll(async () => {
    await sidecar?.close();
    await standIn?.close();
    await opa?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = async (path: string) => {
    const res = await fetch(`${sidecar.apiUrl}${path}`, { headers: { 'x-api-key': ADMIN } });
    return { status: res.status, json: (await res.json()) as any };
  };

  it("/servers applies each server's registry facts and describes what it shows", async () => {
    const { status, json } = await api('/api/v1/gateway/servers');
    expect(status).toBe(200);
    // warehouse is not in the registry (optional there): judged as without it; files is hidden by it.
    expect(json.servers.map((s: { id: string }) => s.id)).toEqual(['demo', 'warehouse']);
    expect(json.servers[0]).toMatchObject({
      id: 'demo',
      name: 'Demo',
      description: 'The bundled demo',
      tags: ['demo'],
      owner: 'platform-team',
      registry_path: '/demo',
    });
    expect(json.servers[0]).not.toHaveProperty('allowed_groups');
  });

  it("/tools lists what tools/list would show, with the registry's descriptions", async () => {
    const { status, json } = await api('/api/v1/gateway/tools?server=demo');
    expect(status).toBe(200);
    expect(json.tools.map((t: { name: string }) => t.name)).toEqual(['add', 'delete_file', 'echo', 'get_time']);
    expect(json.tools.find((t: { name: string }) => t.name === 'echo')).toMatchObject({ description: null, tags: [] });
  });
});
