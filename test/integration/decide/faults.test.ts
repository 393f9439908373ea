/**
 * Fault tests on the policy path with real parts under a bounded load: the
 * sidecar in-process, a real OPA serving a bundle (watched, so its revision
 * can change mid-run), a real Redis, and the demo MCP server recording every
 * tool call it executes. Invariants checked after every scenario:
 *  - zero fail-open: `delete_file` (denied to anonymous) never executes, and
 *    the upstream executed exactly the calls the load saw allowed;
 *  - the breaker and cache metrics show what happened;
 *  - service recovers within the configured time once the fault is gone.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../../../src/demo/server.ts';
import type { Sidecar } from '../../../src/sidecar.ts';
import { auditFileRows } from '../../support/audit-events.ts';
import { ROOT, type Service, startOpa, startRedis, waitFor } from '../../support/services.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';

const BREAKER_RESET_MS = 500;
const REVISION_POLL_MS = 200;
const CONCURRENCY = 4;

/**
 * The repo's gateway policy, wrapped for the test: its decisions cacheable for
 * 1 s regardless of arguments, its rate limits replaced by one on `add` only
 * (so the load is not throttled), and `revoked` tools denied — the revision
 * change below revokes echo.
 */
function wrapper(revoked: string[]): string {
  return `package sark.cached

import rego.v1

import data.sark.gateway

_revoked := ${JSON.stringify(revoked)}

_rate_limit := {"key": "test-add", "limit": 3, "window_seconds": 60} if input.tool.name == "add"

default _rate_limit := null

_base := object.union(gateway.decision, {"cache": {"ttl_seconds": 1, "scope": "target"}, "rate_limit": _rate_limit})

decision := object.union(_base, {"allow": false, "reasons": [{"code": "revoked_in_test"}]}) if {
	input.tool.name in _revoked
} else := _base
`;
}

/** The policy first, then the manifest: the revision changes once the new policy is in. */
function writeBundle(dir: string, revision: string, revoked: string[] = []) {
  writeFileSync(join(dir, 'cached.rego'), wrapper(revoked));
  writeFileSync(join(dir, '.manifest'), JSON.stringify({ revision }));
}

interface Outcome {
  tool: string;
  allowed: boolean;
  code: string | null;
}

/** CONCURRENCY workers calling echo and delete_file in turn until stopped. */
function startLoad(url: string) {
  const outcomes: Outcome[] = [];
  let running = true;
  let n = 0;
  async function worker() {
    while (running) {
      for (const tool of ['echo', 'delete_file']) {
        const id = ++n;
        const args = tool === 'echo' ? { text: `t${id}` } : { path: '/etc/passwd' };
        const res = await rawPost(
          url,
          JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: args } }),
        ).catch(() => undefined);
        if (!res) continue;
        outcomes.push({ tool, allowed: res.json?.result !== undefined, code: res.headers.get('x-sark-error') });
      }
    }
  }
  const workers = Array.from({ length: CONCURRENCY }, worker);
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(workers);
      return outcomes;
    },
  };
}

describe('policy path under faults (real OPA, Redis, MCP server)', () => {
  let opa: Service;
  let redis: Service;
  let upstream: DemoServer;
  let sidecar: Sidecar;
  let bundle: string;
  let auditDir: string;
  const allOutcomes: Outcome[] = [];

  async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const json = await sidecar.metrics.registry.getMetricsAsJSON();
    const m = json.find((x) => x.name === name);
    return (m?.values ?? [])
      .filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))
      .reduce((a, v) => a + v.value, 0);
  }

  /** Runs `body` under load, then checks the zero-fail-open invariant. */
  async function underLoad(body: (outcomes: Outcome[]) => Promise<void>): Promise<Outcome[]> {
    const load = startLoad(sidecar.mcpUrl);
    try {
      await body(load.outcomes);
    } finally {
      allOutcomes.push(...(await load.stop()));
    }
    expect(upstream.executed).not.toContain('delete_file');
    expect(allOutcomes.filter((o) => o.tool === 'delete_file' && o.allowed)).toHaveLength(0);
    // Every call the upstream executed was answered as allowed, and vice versa.
    expect(upstream.executed.length).toBe(allOutcomes.filter((o) => o.allowed).length);
    return load.outcomes;
  }

  const allowedEcho = async (o: Outcome[], from: number) => o.slice(from).some((x) => x.tool === 'echo' && x.allowed);

  beforeAll(async () => {
    bundle = mkdtempSync(join(tmpdir(), 'sark-bundle-'));
    const walk = (from: string, to: string) => {
      for (const e of readdirSync(from, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(from, e.name), join(to, e.name));
        else if (e.name.endsWith('.rego') && !e.name.endsWith('_test.rego'))
          cpSync(join(from, e.name), join(to, e.name));
      }
    };
    walk(join(ROOT, 'opa/policies'), join(bundle, 'policies'));
    cpSync(join(ROOT, 'opa/data/data.json'), join(bundle, 'data.json'));
    writeBundle(bundle, 'r1');
    auditDir = mkdtempSync(join(tmpdir(), 'sark-audit-'));
    [opa, redis, upstream] = await Promise.all([
      startOpa({ paths: [bundle], args: ['--bundle', '--watch'] }),
      startRedis(),
      startDemoServer({ jsonResponse: true }),
    ]);
    sidecar = await startTestSidecar([
      '--opa-url',
      opa.url,
      '--opa-decision-path',
      'sark/cached/decision',
      '--opa-timeout-ms',
      '500',
      '--upstream-url',
      upstream.url,
      '--redis-url',
      redis.url,
      '--redis-budget-ms',
      '20',
      '--breaker-volume',
      '5',
      '--breaker-window-ms',
      '5000',
      '--breaker-reset-ms',
      String(BREAKER_RESET_MS),
      '--policy-revision-poll-ms',
      String(REVISION_POLL_MS),
      '--decision-cache-max-deny-ttl-ms',
      '1000',
      '--audit-file',
      join(auditDir, 'audit.ndjson'),
    ]);
    await waitFor('redis link', async () => (await metric('sark_redis_up')) === 1, 10_000);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
    await Promise.all([opa?.stop(), redis?.stop()]);
    if (bundle) rmSync(bundle, { recursive: true, force: true });
    if (auditDir) rmSync(auditDir, { recursive: true, force: true });
  });

  it('warm: repeated decisions are served from the cache', async () => {
    await underLoad(async (o) => {
      await waitFor('200 calls', async () => o.length >= 200, 20_000);
    });
    expect(await metric('sark_decision_cache_lookups_total', { level: 'l1', result: 'hit' })).toBeGreaterThan(100);
    expect(await metric('sark_policy_breaker_state')).toBe(0);
  });

  it('Redis killed and restarted: calls go on (l1 + OPA), the link comes back', async () => {
    await underLoad(async (o) => {
      await redis.kill();
      await waitFor('redis down seen', async () => (await metric('sark_redis_up')) === 0, 10_000);
      const from = o.length;
      const misses = await metric('sark_decision_cache_lookups_total', { level: 'l1', result: 'miss' });
      const downSince = Date.now();
      // OPA and the in-process cache carry on: allows and denies as before,
      // past the 1 s TTL so that l1 misses go to OPA without Redis.
      await waitFor(
        'calls without redis, past one TTL',
        async () => o.length >= from + 50 && Date.now() - downSince > 1_200,
        20_000,
      );
      expect(await metric('sark_decision_cache_lookups_total', { level: 'l1', result: 'miss' })).toBeGreaterThan(
        misses,
      );
      expect(
        o
          .slice(from)
          .filter((x) => x.tool === 'echo')
          .every((x) => x.allowed),
      ).toBe(true);
      expect(
        o
          .slice(from)
          .filter((x) => x.tool === 'delete_file')
          .every((x) => x.code === 'SARK_POLICY_DENIED'),
      ).toBe(true);
      await redis.restart();
      const back = Date.now();
      await waitFor('redis link back', async () => (await metric('sark_redis_up')) === 1, 10_000);
      // reconnect backoff is capped at 2 s
      expect(Date.now() - back).toBeLessThan(5_000);
      const l2 = await metric('sark_decision_cache_lookups_total', { level: 'l2' });
      await waitFor(
        'l2 lookups resume',
        async () => (await metric('sark_decision_cache_lookups_total', { level: 'l2' })) > l2,
        10_000,
      );
    });
    expect(await metric('sark_policy_breaker_state')).toBe(0);
  });

  it('OPA killed: the breaker opens and denies at once; OPA back: closed again within the reset time', async () => {
    const opened = await metric('sark_policy_breaker_transitions_total', { state: 'open' });
    await underLoad(async (o) => {
      await opa.kill();
      await waitFor('breaker open', async () => (await metric('sark_policy_breaker_state')) === 2, 20_000);
      const from = o.length;
      await waitFor(
        'circuit-open denials',
        async () => o.slice(from).some((x) => x.code === 'SARK_POLICY_CIRCUIT_OPEN'),
        10_000,
      );
      await opa.restart();
      const back = Date.now();
      const mark = o.length;
      await waitFor('echo allowed again', () => allowedEcho(o, mark), 10_000);
      expect(Date.now() - back).toBeLessThan(BREAKER_RESET_MS + 3_000);
      await waitFor('breaker closed', async () => (await metric('sark_policy_breaker_state')) === 0, 10_000);
    });
    expect(await metric('sark_policy_breaker_transitions_total', { state: 'open' })).toBeGreaterThan(opened);
    expect(await metric('sark_policy_breaker_rejections_total')).toBeGreaterThan(0);
    expect(await metric('sark_decisions_total', { reason: 'policy_circuit_open' })).toBeGreaterThan(0);
  });

  it('OPA frozen (SIGSTOP): timeouts open the breaker; thawed: closed again within the reset time', async () => {
    const opened = await metric('sark_policy_breaker_transitions_total', { state: 'open' });
    await underLoad(async (o) => {
      opa.freeze();
      try {
        await waitFor('breaker open', async () => (await metric('sark_policy_breaker_state')) === 2, 20_000);
        expect(await metric('sark_decisions_total', { reason: 'policy_timeout' })).toBeGreaterThan(0);
      } finally {
        opa.thaw();
      }
      const back = Date.now();
      const mark = o.length;
      await waitFor('echo allowed again', () => allowedEcho(o, mark), 10_000);
      expect(Date.now() - back).toBeLessThan(BREAKER_RESET_MS + 3_000);
      await waitFor('breaker closed', async () => (await metric('sark_policy_breaker_state')) === 0, 10_000);
    });
    expect(await metric('sark_policy_breaker_transitions_total', { state: 'open' })).toBeGreaterThan(opened);
  });

  it('policy revision changed mid-run: cache emptied, the new policy applies, no stale allow after it', async () => {
    const invalidations = await metric('sark_decision_cache_invalidations_total', { source: 'revision' });
    await underLoad(async (o) => {
      await waitFor('load running', async () => o.length >= 20, 10_000);
      // r2: echo is revoked.
      writeBundle(bundle, 'r2', ['echo']);
      await waitFor(
        'revision seen',
        async () => (await metric('sark_decision_cache_invalidations_total', { source: 'revision' })) > invalidations,
        15_000,
      );
      const echoesAtSwitch = upstream.executed.filter((t) => t === 'echo').length;
      const from = o.length;
      await waitFor('60 calls after the switch', async () => o.length >= from + 60, 20_000);
      // Only calls already in flight at the switch may have executed echo.
      expect(upstream.executed.filter((t) => t === 'echo').length - echoesAtSwitch).toBeLessThanOrEqual(CONCURRENCY);
      const late = o.slice(from + 2 * CONCURRENCY).filter((x) => x.tool === 'echo');
      expect(late.length).toBeGreaterThan(0);
      expect(late.filter((x) => x.allowed || x.code !== 'SARK_POLICY_DENIED')).toEqual([]);
    });
    // back to r1-equivalent data under a new revision, so the tree is left as found
    writeBundle(bundle, 'r3');
    await waitFor(
      'r3 seen',
      async () => (await metric('sark_decision_cache_invalidations_total', { source: 'revision' })) > invalidations + 1,
      15_000,
    );
    // Each audit event names the bundle revision that decided it, and whether the cache answered.
    const events = auditFileRows(join(auditDir, 'audit.ndjson')) as {
      policy_revision: string | null;
      cache_hit: boolean;
      tool: string | null;
    }[];
    const revisions = new Set(events.map((e) => e.policy_revision?.match(/=(r\d)\b/)?.[1]));
    expect(revisions).toContain('r1');
    expect(revisions).toContain('r2');
    expect(revisions).not.toContain(undefined);
    expect(events.some((e) => e.cache_hit)).toBe(true);
    expect(events.some((e) => !e.cache_hit)).toBe(true);
  });
  it('rate limit: past the obligation the call gets HTTP 429 + Retry-After and never reaches the upstream', async () => {
    const call = (id: number) =>
      rawPost(
        sidecar.mcpUrl,
        JSON.stringify({
          jsonrpc: '2.0',
          id,
          method: 'tools/call',
          params: { name: 'add', arguments: { a: 1, b: id } },
        }),
      );
    const before = upstream.executed.filter((t) => t === 'add').length;
    const answers = [];
    for (let i = 1; i <= 5; i++) answers.push(await call(i));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
    const refused = answers[3]!;
    expect(refused.headers.get('x-sark-error')).toBe('SARK_RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.json.error.code).toBe(-32004);
    expect(refused.json.id).toBe(4);
    expect(upstream.executed.filter((t) => t === 'add').length - before).toBe(3);
    expect(await metric('sark_rate_limited_total', { store: 'redis' })).toBe(2);
    // Redis down: the local bucket (per sidecar) takes over; a fresh bucket admits 3 more, then refuses.
    await redis.kill();
    try {
      await waitFor('redis down seen', async () => (await metric('sark_redis_up')) === 0, 10_000);
      const local = [];
      for (let i = 6; i <= 10; i++) local.push((await call(i)).status);
      expect(local).toEqual([200, 200, 200, 429, 429]);
      expect(await metric('sark_rate_limited_total', { store: 'local' })).toBe(2);
    } finally {
      await redis.restart();
    }
    await waitFor('redis link back', async () => (await metric('sark_redis_up')) === 1, 10_000);
  });
});
