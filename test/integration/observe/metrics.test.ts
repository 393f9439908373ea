/**
 * /metrics after a scripted scenario, black box through a real sidecar: real
 * OPA serving the repo's policy from plain files (no bundle), the demo MCP
 * server, a Splunk HEC stand-in as audit sink. The script: allowed calls,
 * denied calls, a rate-limited call, the engine down and back, the audit sink
 * down and back. Then the counts on /metrics must be exactly what happened.
 * Only the admin listener's text is read, so this survives any rewrite of
 * the pipeline behind it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../../../src/demo/server.ts';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type Sample, samplesOf, scrape, sumOf } from '../../support/metrics-text.ts';
import { ROOT, type Service, startOpa, waitFor } from '../../support/services.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';
import { type SiemServer, startSplunkHec } from '../../support/siem-servers.ts';

/** The repo's gateway policy, with a rate limit of 2 calls a minute on `add`. */
const WRAPPER = `package sark.metricstest

import data.sark.gateway

_add_limit := {"key": "metrics-test-add", "limit": 2, "window_seconds": 60}

decision := object.union(gateway.decision, {"rate_limit": _add_limit}) if {
	input.tool.name == "add"
} else := gateway.decision
`;

describe('metrics after a scripted scenario', () => {
  let dir: string;
  let opa: Service;
  let upstream: DemoServer;
  let hec: SiemServer;
  let sidecar: Sidecar;
  let id = 0;

  const call = (tool: string, args: Record<string, unknown> = {}) =>
    rawPost(
      sidecar.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: tool, arguments: args } }),
    );
  const metrics = () => scrape(sidecar.adminUrl);
  const value = async (name: string, labels: Record<string, string> = {}) => sumOf(await metrics(), name, labels);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sark-metrics-'));
    writeFileSync(join(dir, 'metricstest.rego'), WRAPPER);
    [opa, upstream, hec] = await Promise.all([
      startOpa({ paths: [join(ROOT, 'opa/policies'), join(ROOT, 'opa/data'), join(dir, 'metricstest.rego')] }),
      startDemoServer({ jsonResponse: true }),
      startSplunkHec('metrics-token'),
    ]);
    sidecar = await startTestSidecar([
      '--opa-url',
      opa.url,
      '--opa-decision-path',
      'sark/metricstest/decision',
      '--opa-timeout-ms',
      '500',
      '--upstream-url',
      upstream.url,
      // Every decision reaches the engine: the counts below are per decision, not per cache level.
      '--decision-cache-entries',
      '0',
      '--breaker-volume',
      '1000',
      '--policy-probe-interval-ms',
      '100',
      '--splunk-hec-url',
      hec.url,
      '--splunk-hec-token',
      'metrics-token',
      '--audit-flush-interval-ms',
      '50',
      '--audit-spool-dir',
      join(dir, 'spool'),
    ]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await Promise.all([upstream?.close(), hec?.close(), opa?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let denyReason: string;
  let final: Sample[];

  it('before any traffic: the engine is up with OPA serving plain files (no bundle), /readyz never asked', async () => {
    const m = await metrics();
    expect(sumOf(m, 'sark_policy_engine_up')).toBe(1);
    expect(samplesOf(m, 'sark_requests_total')).toEqual([]);
    expect(samplesOf(m, 'sark_build_info')[0]!.labels.server).toBe('demo');
  });

  it('runs the scenario', async () => {
    // Allowed: three echo calls.
    for (let i = 0; i < 3; i++) expect((await call('echo', { text: `hi ${i}` })).json.result).toBeDefined();
    // Denied by policy: two calls of a tool the anonymous agent is not granted, one of a tool no one knows.
    const denied = await call('delete_file', { path: '/tmp/sark-demo/x' });
    expect(denied.json.error.code).toBe(-32002);
    denyReason = denied.json.error.data.reasons[0].code;
    await call('delete_file', { path: '/tmp/sark-demo/y' });
    const unknown = await call('tool_made_up_by_a_client_4711');
    expect(unknown.json.error.data.reasons[0].code).toBe('tool_unknown');
    // Rate-limited: the third `add` in a minute.
    expect((await call('add', { a: 1, b: 2 })).status).toBe(200);
    expect((await call('add', { a: 1, b: 3 })).status).toBe(200);
    expect((await call('add', { a: 1, b: 4 })).status).toBe(429);

    // The engine down: fail-closed denies, and the gauge says so (decisions and probes), then up again.
    await opa.kill();
    for (let i = 0; i < 2; i++) {
      const res = await call('echo', { text: 'engine down' });
      expect(res.headers.get('x-sark-error')).toBe('SARK_POLICY_UNAVAILABLE');
    }
    await waitFor('engine down on /metrics', async () => (await value('sark_policy_engine_up')) === 0, 10_000);
    await opa.restart();
    await waitFor('engine up on /metrics', async () => (await value('sark_policy_engine_up')) === 1, 10_000);

    // The audit sink down: events spill to the spool, then are replayed once it is back.
    hec.failWith(503);
    const refusedBefore = hec.requests;
    for (let i = 0; i < 2; i++) expect((await call('echo', { text: `sink down ${i}` })).json.result).toBeDefined();
    await waitFor(
      'spooled while the sink is down',
      async () => (await value('sark_audit_events_spilled_total', { sink: 'splunk' })) >= 2,
      10_000,
    );
    expect(hec.requests).toBeGreaterThan(refusedBefore);
    hec.recover();
    await waitFor(
      'every event acknowledged',
      async () => (await value('sark_audit_events_sent_total', { sink: 'splunk' })) === 13,
      20_000,
    );
    final = await metrics();
  });

  it('counts requests, tool calls and decisions exactly', () => {
    const m = final;
    expect(sumOf(m, 'sark_requests_total', { method: 'tools/call', outcome: 'allow' })).toBe(7);
    expect(sumOf(m, 'sark_requests_total', { method: 'tools/call', outcome: 'deny' })).toBe(6);
    expect(sumOf(m, 'sark_requests_total', { outcome: 'error' })).toBe(0);
    expect(sumOf(m, 'sark_request_duration_seconds_count', { method: 'tools/call' })).toBe(13);
    expect(sumOf(m, 'sark_request_overhead_seconds_count', { method: 'tools/call' })).toBe(13);

    // The tool label: the policy's catalogue for this server (data.sark.tools.demo); anything else is `other`.
    expect(sumOf(m, 'sark_tool_calls_total', { tool: 'echo', outcome: 'allow' })).toBe(5);
    expect(sumOf(m, 'sark_tool_calls_total', { tool: 'echo', outcome: 'deny' })).toBe(2);
    expect(sumOf(m, 'sark_tool_calls_total', { tool: 'add', outcome: 'allow' })).toBe(2);
    expect(sumOf(m, 'sark_tool_calls_total', { tool: 'add', outcome: 'deny' })).toBe(1);
    expect(sumOf(m, 'sark_tool_calls_total', { tool: 'delete_file', outcome: 'deny' })).toBe(2);
    expect(sumOf(m, 'sark_tool_calls_total', { tool: 'other', outcome: 'deny' })).toBe(1);
    expect(sumOf(m, 'sark_tool_call_duration_seconds_count', { tool: 'echo' })).toBe(5);

    expect(sumOf(m, 'sark_decisions_total', { decision: 'allow' })).toBe(8);
    expect(sumOf(m, 'sark_decisions_total', { decision: 'deny', reason: denyReason })).toBe(2);
    expect(sumOf(m, 'sark_decisions_total', { decision: 'deny', reason: 'tool_unknown' })).toBe(1);
    expect(sumOf(m, 'sark_decisions_total', { decision: 'deny', reason: 'policy_unavailable' })).toBe(2);
    expect(sumOf(m, 'sark_decisions_total')).toBe(13);
    expect(sumOf(m, 'sark_decision_duration_seconds_count', { engine: 'opa', cache: 'none' })).toBe(13);
    expect(sumOf(m, 'sark_rate_limited_total', { store: 'local' })).toBe(1);
    expect(sumOf(m, 'sark_upstream_requests_total', { status_class: '2xx' })).toBe(7);
    expect(sumOf(m, 'sark_upstream_requests_total')).toBe(7);
    expect(sumOf(m, 'sark_policy_engine_up')).toBe(1);
  });

  it('counts the audit path exactly: queued, spooled, replayed, acknowledged, delayed, nothing lost', () => {
    const m = final;
    const splunk = { sink: 'splunk' };
    expect(sumOf(m, 'sark_audit_events_queued_total', splunk)).toBe(13);
    expect(sumOf(m, 'sark_audit_events_sent_total', splunk)).toBe(13);
    const spilled = sumOf(m, 'sark_audit_events_spilled_total', splunk);
    expect(spilled).toBeGreaterThanOrEqual(2);
    expect(sumOf(m, 'sark_audit_events_replayed_total', splunk)).toBe(spilled);
    expect(sumOf(m, 'sark_audit_sink_errors_total', splunk)).toBeGreaterThanOrEqual(1);
    expect(sumOf(m, 'sark_audit_delay_seconds_count', splunk)).toBe(13);
    expect(sumOf(m, 'sark_audit_events_dropped_total')).toBe(0);
    expect(sumOf(m, 'sark_audit_queue_events', splunk)).toBe(0);
    expect(sumOf(m, 'sark_audit_spool_max_bytes', splunk)).toBe(1024 * 1024 * 1024);
  });

  it('keeps every label bounded: no client text in any series, every series labelled with the server', () => {
    for (const s of final) {
      expect(s.labels.server).toBe('demo');
      for (const v of Object.values(s.labels)) expect(v).not.toContain('made_up');
    }
    expect(sumOf(final, 'sark_connections_accepted_total', { listener: 'data' })).toBeGreaterThan(0);
    expect(sumOf(final, 'sark_connections_open', { listener: 'admin' })).toBeGreaterThanOrEqual(1);
  });
});
