/**
 * The decision API on the one decision path: for a shared table of cases,
 * /authorize, AuthZEN /evaluation and /evaluations give the same decision
 * as the same call through the MCP listener, and write the same audit row.
 * Real OPA (repo policy), a real SDK v2 upstream, ClickHouse for /audit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../../src/cli/migrate.ts';
import type { Sidecar } from '../../../src/sidecar.ts';
import { auditFileRows, until } from '../../support/audit-events.ts';
import { CASE_KEY_ENTRIES, CASE_KEYS, DECISION_CASES, keyOf } from '../../support/decision-cases.ts';
import { type Service, startClickHouse, startOpa } from '../../support/services.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';
import { startV2Server, type V2Server } from '../../support/v2-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'sark-api-'));
const KEYS = join(dir, 'keys.json');
const AUDIT = join(dir, 'audit.ndjson');
const DEV = CASE_KEYS.developer;
const ADMIN = CASE_KEYS.admin;
const PLANNER = 'planner-key-0123456789abcdef';
writeFileSync(
  KEYS,
  JSON.stringify([
    ...CASE_KEY_ENTRIES,
    { key: PLANNER, agentId: 'planner', roles: ['developer'], tenant: 'acme', trustLevel: 'high', environment: 'prod' },
  ]),
);

let opa: Service;
let ch: Service;
let upstream: V2Server;
let sidecar: Sidecar;

beforeAll(async () => {
  [opa, ch, upstream] = await Promise.all([startOpa(), startClickHouse(), startV2Server({ responses: 'json' })]);
  expect(await migrateCommand(['--audit-clickhouse-url', ch.url], { write: () => true } as never)).toBe(0);
  sidecar = await startTestSidecar([
    '--upstream-url',
    upstream.url,
    '--opa-url',
    opa.url,
    '--opa-timeout-ms',
    '2000',
    '--api-keys-file',
    KEYS,
    '--api-listen',
    '127.0.0.1:0',
    '--audit-file',
    AUDIT,
    '--audit-clickhouse-url',
    ch.url,
    '--audit-flush-interval-ms',
    '50',
    '--audit-spool-dir',
    join(dir, 'spool'),
  ]);
});

afterAll(async () => {
  await sidecar?.close();
  await Promise.all([opa?.stop(), ch?.stop(), upstream?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

async function api(path: string, init: { method?: string; key?: string; body?: unknown } = {}) {
  const res = await fetch(`${sidecar.apiUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.key ? { 'x-api-key': init.key } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

function auditRows(): any[] {
  return auditFileRows(AUDIT);
}

/** The fields an audit row shares whatever the entry point (not ids, timings or the upstream's answer). */
function decisionFields(r: any) {
  const {
    agent_id,
    agent_type,
    server_id,
    method,
    action,
    tool,
    era,
    decision,
    reasons,
    policy_revision,
    args_digest,
    args_redacted,
  } = r;
  return {
    agent_id,
    agent_type,
    server_id,
    method,
    action,
    tool,
    era,
    decision,
    reasons,
    policy_revision,
    args_digest,
    args_redacted,
  };
}

const CASES = DECISION_CASES.map((c) => ({ ...c, key: keyOf(c.who) }));

describe('the decision API decides as the MCP listener does', () => {
  it.each(CASES.map((c, i) => [i, c] as const))('case %i: same decision and same audit row', async (_i, c) => {
    const headers: Record<string, string> = c.key ? { 'x-api-key': c.key } : {};
    const mcp = await rawPost(
      sidecar.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: c.tool, arguments: c.args } }),
      headers,
    );
    const viaMcp = mcp.json.error === undefined;
    const authorize = await api('/api/v1/gateway/authorize', { key: c.key, body: { tool: c.tool, arguments: c.args } });
    expect(authorize.status).toBe(200);
    expect(authorize.json.allow).toBe(viaMcp);
    const evaluation = await api('/access/v1/evaluation', {
      key: c.key,
      body: {
        action: { name: 'tools/call' },
        resource: { type: 'mcp_tool', id: c.tool, properties: { arguments: c.args } },
      },
    });
    expect(evaluation.json.decision).toBe(viaMcp);
    if (!viaMcp) {
      expect(authorize.json.reasons.map((r: { code: string }) => r.code)).toEqual(
        mcp.json.error.data.reasons.map((r: { code: string }) => r.code),
      );
    }
    await until(
      'three audit rows',
      () => auditRows().filter((r) => r.http_request_id === evaluation.json.context.id).length === 1,
    );
    const rows = auditRows();
    const byId = (id: string) => rows.find((r) => r.http_request_id === id);
    const fromMcp = rows.filter((r) => r.tool === c.tool).at(-3)!;
    const fromAuthorize = byId(authorize.json.request_id);
    const fromEvaluation = byId(evaluation.json.context.id);
    expect(decisionFields(fromAuthorize)).toEqual(decisionFields(fromMcp));
    expect(decisionFields(fromEvaluation)).toEqual(decisionFields(fromMcp));
  });

  it('AuthZEN evaluations: one decision per evaluation, in order, each audited under one request', async () => {
    const res = await api('/access/v1/evaluations', {
      key: DEV,
      body: {
        action: { name: 'tools/call' },
        evaluations: [
          { resource: { type: 'mcp_tool', id: 'echo', properties: { arguments: { text: 'a' } } } },
          { resource: { type: 'mcp_tool', id: 'delete_file', properties: { arguments: { path: '/x' } } } },
          { resource: { type: 'mcp_prompt', id: 'greeting' }, action: { name: 'prompts/get' } },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.json.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true, false, true]);
    const ids = res.json.evaluations.map((e: { context: { id: string } }) => e.context.id);
    expect(new Set(ids.map((id: string) => id.split('#')[0])).size).toBe(1);
  });

  it('an allowed call comes back with the arguments to forward and its obligations', async () => {
    const res = await api('/api/v1/gateway/authorize', { key: DEV, body: { tool: 'echo', arguments: { text: 'x' } } });
    expect(res.json).toMatchObject({ decision: 'allow', allow: true, arguments: { text: 'x' } });
    expect(Array.isArray(res.json.obligations)).toBe(true);
    expect(res.json.policy_revision).not.toBeUndefined();
  });

  it('refuses to decide for anyone but the caller, bad requests name the field, a wrong key is 401', async () => {
    const other = await api('/access/v1/evaluation', {
      key: DEV,
      body: {
        subject: { type: 'agent', id: 'admin-1' },
        action: { name: 'tools/call' },
        resource: { type: 'mcp_tool', id: 'echo' },
      },
    });
    expect(other.status).toBe(403);
    expect(other.json.error.code).toBe('SARK_SUBJECT_MISMATCH');
    const bad = await api('/api/v1/gateway/authorize', { key: DEV, body: { tool: 'echo', arguments: 'nope' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'SARK_INVALID_REQUEST', field: 'arguments' });
    const unknownField = await api('/api/v1/gateway/authorize', { key: DEV, body: { tool: 'echo', agent: 'x' } });
    expect(unknownField.status).toBe(400);
    const wrong = await api('/api/v1/gateway/authorize', { key: 'not-a-key-0123456789', body: { tool: 'echo' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('servers and tools: only what the caller may see, decided by the policy that filters tools/list', async () => {
    const tools = await api('/api/v1/gateway/tools?server=demo');
    expect(tools.json.tools.map((t: { name: string }) => t.name)).toEqual(['add', 'echo', 'get_time']);
    const devTools = await api('/api/v1/gateway/tools', { key: DEV });
    expect(devTools.json.tools.map((t: { name: string }) => t.name)).not.toContain('delete_file');
    const servers = await api('/api/v1/gateway/servers', { key: ADMIN });
    expect(servers.status).toBe(200);
    expect(servers.json.servers.map((s: { id: string }) => s.id)).toContain('demo');
    const refused = await api('/api/v1/gateway/servers', { key: DEV });
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('SARK_POLICY_DENIED');
  });

  it('audit: admins page through recent rows with filters; others are refused', async () => {
    await until('rows in ClickHouse', async () => {
      const r = await api('/api/v1/gateway/audit?tool=delete_file&decision=deny&limit=3', { key: ADMIN });
      return r.status === 200 && r.json.rows.length === 3;
    });
    const first = await api('/api/v1/gateway/audit?tool=delete_file&decision=deny&limit=2', { key: ADMIN });
    expect(first.status).toBe(200);
    expect(first.json.rows).toHaveLength(2);
    for (const r of first.json.rows) expect([r.tool, r.decision]).toEqual(['delete_file', 'deny']);
    expect(first.json.next_cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const next = await api(
      `/api/v1/gateway/audit?tool=delete_file&decision=deny&limit=2&cursor=${first.json.next_cursor}`,
      {
        key: ADMIN,
      },
    );
    const seen = new Set(first.json.rows.map((r: { request_id: string }) => r.request_id));
    for (const r of next.json.rows) expect(seen.has(r.request_id)).toBe(false);
    const dev = await api('/api/v1/gateway/audit', { key: DEV });
    expect(dev.status).toBe(403);
    const injection = await api("/api/v1/gateway/audit?agent=x'%20OR%201=1", { key: ADMIN });
    expect(injection.status).toBe(400);
    expect(injection.json.error.field).toBe('agent');
  });

  it('authorize-a2a: the calling agent is the source; the A2A policy decides; a bad body names the field', async () => {
    const ok = await api('/api/v1/gateway/authorize-a2a', {
      key: PLANNER,
      body: { operation: 'SendMessage', target: { id: 'researcher' }, skill: 'summarize' },
    });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ decision: 'allow', allow: true });
    const unsigned = await api('/api/v1/gateway/authorize-a2a', {
      key: PLANNER,
      body: { operation: 'SendMessage', target: { id: 'payments' }, skill: 'payments.transfer' },
    });
    expect(unsigned.json.allow).toBe(false);
    expect(unsigned.json.code).toBe('SARK_POLICY_DENIED');
    const anon = await api('/api/v1/gateway/authorize-a2a', {
      body: { operation: 'SendMessage', target: { id: 'researcher' }, skill: 'summarize' },
    });
    expect(anon.json.allow).toBe(false);
    const bad = await api('/api/v1/gateway/authorize-a2a', {
      key: PLANNER,
      body: { operation: 'Launch', target: { id: 'x' } },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error.field).toBe('operation');
    // Audited like every other decision, under the A2A action.
    await until('the A2A rows', () => auditRows().some((r) => r.http_request_id === ok.json.request_id));
    const row = auditRows().find((r) => r.http_request_id === ok.json.request_id);
    expect(row).toMatchObject({
      action: 'a2a:call',
      method: 'SendMessage',
      era: 'a2a',
      agent_id: 'planner',
      decision: 'allow',
    });
  });

  it('serves its OpenAPI 3.1 document', async () => {
    const doc = await api('/api/v1/openapi.json');
    expect(doc.json.openapi).toBe('3.1.0');
    expect(Object.keys(doc.json.paths)).toEqual(
      expect.arrayContaining(['/api/v1/gateway/authorize', '/access/v1/evaluation', '/api/v1/gateway/audit']),
    );
  });
});

describe('fail closed', () => {
  it('with the policy engine down every decision is a deny', async () => {
    const down = await startTestSidecar([
      '--upstream-url',
      upstream.url,
      '--opa-url',
      'http://127.0.0.1:1',
      '--api-listen',
      '127.0.0.1:0',
    ]);
    try {
      const res = await fetch(`${down.apiUrl}/api/v1/gateway/authorize`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tool: 'echo', arguments: { text: 'x' } }),
      });
      const json = (await res.json()) as any;
      expect(json.allow).toBe(false);
      expect(json.code).toMatch(/^SARK_POLICY_(UNAVAILABLE|CIRCUIT_OPEN)$/);
      const noAudit = await fetch(`${down.apiUrl}/api/v1/gateway/audit`);
      expect(noAudit.status).not.toBe(200);
    } finally {
      await down.close();
    }
  });
});
