import { describe, expect, it } from 'vitest';
import {
  listedServers,
  nextCursor,
  sensitivityLabels,
  serverIdOf,
  serverListPage,
  serverRecord,
  toolsAnswer,
  toRegistryServer,
  toRegistryTool,
  unreadServer,
} from '../../../../src/decide/registry/records.ts';
import { RegistrySnapshot, SnapshotView } from '../../../../src/decide/registry/view.ts';

const FININFO = serverRecord.parse({
  path: '/fininfo/',
  server_name: 'Financial Info',
  description: 'Quotes',
  tags: ['finance', 'classification:Confidential'],
  status: 'active',
  visibility: 'Group-Restricted',
  allowed_groups: ['analysts'],
  registered_by: 'alice',
  is_enabled: true,
  metadata: { owner: 'bob', team: 'markets', data_classification: 'internal' },
  proxy_pass_url: 'http://internal:8000/',
});

describe('registry records → SARK facts (docs/registry.md)', () => {
  it('takes paths from the internal meta, else from the io.mcpgateway name', () => {
    const page = serverListPage.parse({
      servers: [
        {
          server: { name: 'io.mcpgateway/a', _meta: { 'io.mcpgateway/internal': { path: '/a/', is_enabled: false } } },
        },
        { server: { name: 'io.mcpgateway/b' } },
        { server: { name: 'io.github.other/c' } },
        { server: { name: 'io.mcpgateway/' } },
      ],
      metadata: { nextCursor: 'io.mcpgateway/b', count: 4 },
    });
    expect(listedServers(page)).toEqual({
      servers: [
        { path: '/a/', enabled: false },
        { path: '/b', enabled: undefined },
      ],
      skipped: 2,
    });
    expect(nextCursor(page)).toBe('io.mcpgateway/b');
    expect(nextCursor(serverListPage.parse({ servers: [], metadata: { nextCursor: null } }))).toBeUndefined();
    expect(serverIdOf('/currenttime/')).toBe('currenttime');
  });

  it('maps owner, sensitivity, tags, visibility, groups, enabled and lifecycle', () => {
    const tools = toolsAnswer
      .parse({
        service_path: '/fininfo/',
        tools: [
          { name: 'quote', description: 'q', inputSchema: {}, metadata: { sensitivity: 'High' } },
          { name: 'trade', tags: ['sensitivity:critical'], sensitivity: 'restricted' },
        ],
        cached: false,
      })
      .tools.map(toRegistryTool);
    const s = toRegistryServer(FININFO, { path: '/fininfo/', enabled: undefined }, tools);
    expect(s).toEqual({
      id: 'fininfo',
      path: '/fininfo/',
      name: 'Financial Info',
      description: 'Quotes',
      owner: 'bob',
      ownerTeam: 'markets',
      registeredBy: 'alice',
      sensitivity: ['internal', 'confidential'],
      tags: ['finance', 'classification:Confidential'],
      visibility: 'group-restricted',
      allowedGroups: ['analysts'],
      enabled: true,
      lifecycle: 'active',
      health: null,
      tools: [
        { name: 'quote', description: 'q', sensitivity: ['high'], tags: [] },
        { name: 'trade', description: null, sensitivity: ['restricted', 'critical'], tags: ['sensitivity:critical'] },
      ],
    });
  });

  it('owner falls back to the team, then to registered_by; no visibility is public', () => {
    const bare = serverRecord.parse({ path: '/x', registered_by: 'carol' });
    const s = toRegistryServer(bare, { path: '/x', enabled: false }, null);
    expect([s.owner, s.ownerTeam, s.visibility, s.enabled, s.sensitivity, s.tools]).toEqual([
      'carol',
      null,
      'public',
      false,
      [],
      null,
    ]);
    const team = toRegistryServer(
      serverRecord.parse({ path: '/x', metadata: { team: 'sre' } }),
      { path: '/x', enabled: true },
      [],
    );
    expect(team.owner).toBe('sre');
  });

  it('refuses records whose restricting fields have the wrong type', () => {
    for (const bad of [
      { path: '/x', visibility: 3 },
      { path: '/x', allowed_groups: 'analysts' },
      { path: '/x', allowed_groups: ['a', 1] },
      { path: '/x', tags: 'finance' },
      { path: '/x', metadata: ['owner'] },
      { path: '/x', is_enabled: 'yes' },
      { server_name: 'no path' },
    ]) {
      expect(serverRecord.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(toolsAnswer.safeParse({ tools: [{ description: 'nameless' }] }).success).toBe(false);
    expect(toolsAnswer.safeParse({ tools: 'none' }).success).toBe(false);
  });

  it('collects every sensitivity label, lower-cased, without duplicates', () => {
    expect(
      sensitivityLabels({ sensitivity: ' HIGH ', classification: 'high' }, ['data-classification=PII', 'x']),
    ).toEqual(['high', 'pii']);
    expect(sensitivityLabels(null, [], null)).toEqual([]);
  });

  it('a server never read shows no visibility', () => {
    expect(unreadServer({ path: '/y', enabled: undefined }, null)).toMatchObject({
      id: 'y',
      visibility: null,
      enabled: null,
    });
  });
});

describe('RegistryView', () => {
  const fin = toRegistryServer(FININFO, { path: '/fininfo/', enabled: undefined }, [
    { name: 'quote', description: null, sensitivity: ['high'], tags: ['t'] },
  ]);
  const other = toRegistryServer(serverRecord.parse({ path: '/b' }), { path: '/b', enabled: true }, null);
  const snap = new RegistrySnapshot([other, fin], 1_000);

  it('answers unavailable facts before the first read', () => {
    const view = new SnapshotView(() => undefined);
    expect(view.serverFacts('fininfo')).toEqual({ available: false, listed: false });
    expect(view.toolFacts('fininfo', 'quote')).toEqual({ listed: false });
    expect(view.serverListFacts()).toEqual({ available: false, servers: {} });
    expect(view.servers()).toEqual([]);
    expect(view.tools('fininfo')).toBeUndefined();
  });

  it('reads servers by id or path, sorted, with frozen facts', () => {
    const view = new SnapshotView(() => snap);
    expect(view.servers().map((s) => s.id)).toEqual(['b', 'fininfo']);
    expect(view.server('/fininfo/')?.name).toBe('Financial Info');
    expect(view.tools('fininfo')?.map((t) => t.name)).toEqual(['quote']);
    expect(view.tools('b')).toBeUndefined();
    const facts = view.serverFacts('fininfo');
    expect(facts).toEqual({
      available: true,
      listed: true,
      path: '/fininfo/',
      name: 'Financial Info',
      owner: 'bob',
      owner_team: 'markets',
      registered_by: 'alice',
      sensitivity: ['internal', 'confidential'],
      tags: ['finance', 'classification:Confidential'],
      visibility: 'group-restricted',
      allowed_groups: ['analysts'],
      enabled: true,
      lifecycle: 'active',
      tools_known: true,
    });
    expect(Object.isFrozen(facts)).toBe(true);
    // The same object every time: building the input costs a lookup.
    expect(view.serverFacts('fininfo')).toBe(facts);
    expect(view.serverFacts('nope')).toEqual({ available: true, listed: false });
    expect(view.toolFacts('fininfo', 'quote')).toEqual({ listed: true, sensitivity: ['high'], tags: ['t'] });
    expect(view.toolFacts('fininfo', 'other')).toEqual({ listed: false });
    expect(Object.keys(view.serverListFacts().servers)).toEqual(['b', 'fininfo']);
  });

  it('maps the protected server onto its registry path (gatewayServerPath)', () => {
    const view = new SnapshotView(() => snap, { serverId: 'finance', path: '/fininfo/' });
    expect(view.serverFacts('finance')).toBe(snap.serverFacts('fininfo'));
    expect(view.toolFacts('finance', 'quote').listed).toBe(true);
    expect(Object.keys(view.serverListFacts().servers).sort()).toEqual(['b', 'finance']);
    const same = new SnapshotView(() => snap, { serverId: 'fininfo', path: '/fininfo' });
    expect(same.serverListFacts()).toBe(snap.catalogue);
  });
});
