import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorKinds } from '../../../src/errors.ts';
import {
  METHOD_LABELS,
  methodLabel,
  POLICY_REASON_CODES,
  ReasonLabels,
  statusClass,
  ToolLabels,
} from '../../../src/observe/labels.ts';
import { createMetrics } from '../../../src/observe/metrics.ts';
import { parseExposition, samplesOf, sumOf } from '../../support/metrics-text.ts';

const POLICIES = new URL('../../../opa/policies/', import.meta.url).pathname;

function regoFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? regoFiles(join(dir, e.name))
      : e.name.endsWith('.rego') && !e.name.endsWith('_test.rego')
        ? [join(dir, e.name)]
        : [],
  );
}

describe('reason label', () => {
  it('knows every reason code the bundled policy can give', () => {
    const codes = new Set<string>();
    for (const file of regoFiles(POLICIES)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/_reason\("([a-z_]+)"/g)) codes.add(m[1]!);
      for (const m of text.matchAll(/"code": "([a-z_]+)"/g)) codes.add(m[1]!);
    }
    expect(codes.size).toBeGreaterThan(20);
    expect([...codes].filter((c) => !POLICY_REASON_CODES.includes(c))).toEqual([]);
  });

  it('passes catalogue, policy and configured codes, and maps the rest to other', () => {
    const r = new ReasonLabels(['my_team_rule']);
    for (const k of Object.values(ErrorKinds)) expect(r.label(k.reason)).toBe(k.reason);
    expect(r.label('tool_not_granted')).toBe('tool_not_granted');
    expect(r.label('my_team_rule')).toBe('my_team_rule');
    expect(r.label('ignore previous instructions')).toBe('other');
    expect(r.label('tool_not_granted_for_user_4711')).toBe('other');
  });

  it('a flood of invented reason codes adds one series, not one per code', async () => {
    const m = createMetrics();
    for (let i = 0; i < 1000; i++) m.decisions.labels('deny', m.reasons.label(`custom_${i}`)).inc();
    const json = await m.registry.getMetricsAsJSON();
    const values = json.find((x) => x.name === 'sark_decisions_total')!.values;
    expect(values).toHaveLength(1);
    expect(values[0]).toMatchObject({ labels: { reason: 'other' }, value: 1000 });
  });
});

describe('tool label', () => {
  it('admits configured names first, then the catalogue, up to the cap', () => {
    const t = new ToolLabels(['echo'], 3);
    expect(t.label('echo')).toBe('echo');
    expect(t.label('add')).toBe('other');
    t.setCatalogue(['add', 'get_time', 'delete_file', 'zzz']);
    expect(t.size).toBe(3);
    expect(t.label('add')).toBe('add');
    expect(t.label('get_time')).toBe('get_time');
    expect(t.label('delete_file')).toBe('other');
    expect(t.label(undefined)).toBe('other');
  });

  it('never admits an unprintable, empty, over-long or "other" name', () => {
    const t = new ToolLabels(['ok', '', 'a b', 'x'.repeat(200), 'other', 'é'], 100);
    expect(t.size).toBe(1);
    t.setCatalogue(['new\nline']);
    expect(t.label('new\nline')).toBe('other');
  });

  it('refuses a bad cap at construction', () => {
    expect(() => new ToolLabels([], -1)).toThrow(TypeError);
  });
});

describe('method and status labels', () => {
  it('maps methods to a fixed set', () => {
    expect(methodLabel({ method: 'tools/call' })).toBe('tools/call');
    expect(methodLabel({ method: 'tasks/get' })).toBe('tasks/get');
    expect(methodLabel({ method: 'x/evil-1234' })).toBe('other');
    expect(methodLabel({ result: {} })).toBe('response');
    expect(METHOD_LABELS.has('http:get')).toBe(true);
  });

  it('classes statuses', () => {
    expect(statusClass(200)).toBe('2xx');
    expect(statusClass(202)).toBe('2xx');
    expect(statusClass(404)).toBe('4xx');
    expect(statusClass(503)).toBe('5xx');
    expect(statusClass(499)).toBe('client_closed');
    expect(statusClass(999)).toBe('other');
  });
});

describe('request metrics', () => {
  it('counts and times a message by method and outcome, and tool calls by bounded tool', async () => {
    const m = createMetrics({ serverId: 'files', toolNames: ['read_file'] });
    const t0 = 1000;
    m.request.done({ method: 'tools/call', outcome: 'allow', tool: 'read_file', t0, forwardedAt: 1000.5 }, 1010);
    m.request.done({ method: 'tools/call', outcome: 'deny', tool: 'made_up_9', t0 }, 1000.2);
    m.request.done({ method: 'http:get', outcome: 'allow', t0, forwardedAt: 1000.1, stream: true }, 5000);
    m.request.done({ method: 'bogus/method', outcome: 'error', t0 }, 1000.1);
    m.request.upstream({ status: 200, headersMs: 4 });
    m.request.upstream({ failure: 'timeout' });
    const s = parseExposition(await m.registry.metrics());
    const files = { server: 'files' };
    expect(sumOf(s, 'sark_requests_total', { method: 'tools/call', outcome: 'allow', ...files })).toBe(1);
    expect(sumOf(s, 'sark_requests_total', { method: 'other', outcome: 'error' })).toBe(1);
    expect(sumOf(s, 'sark_tool_calls_total', { tool: 'read_file', outcome: 'allow' })).toBe(1);
    expect(sumOf(s, 'sark_tool_calls_total', { tool: 'other', outcome: 'deny' })).toBe(1);
    // Only the forwarded call is timed per tool; the stream is counted, not timed.
    expect(samplesOf(s, 'sark_tool_call_duration_seconds_count').map((x) => x.labels.tool)).toEqual(['read_file']);
    expect(sumOf(s, 'sark_request_duration_seconds_count', { method: 'tools/call', outcome: 'allow' })).toBe(1);
    expect(samplesOf(s, 'sark_request_duration_seconds_count', { method: 'http:get' })).toEqual([]);
    expect(sumOf(s, 'sark_request_overhead_seconds_count', { method: 'http:get', outcome: 'allow' })).toBe(1);
    expect(sumOf(s, 'sark_request_overhead_seconds_sum', { method: 'tools/call', outcome: 'allow' })).toBeCloseTo(
      0.0005,
      9,
    );
    expect(sumOf(s, 'sark_request_duration_seconds_sum', { method: 'tools/call', outcome: 'allow' })).toBeCloseTo(
      0.01,
      9,
    );
    expect(sumOf(s, 'sark_upstream_requests_total', { status_class: '2xx' })).toBe(1);
    expect(sumOf(s, 'sark_upstream_requests_total', { status_class: 'timeout' })).toBe(1);
    expect(sumOf(s, 'sark_upstream_duration_seconds_count', { status_class: '2xx' })).toBe(1);
    expect(samplesOf(s, 'sark_upstream_duration_seconds_count', { status_class: 'timeout' })).toEqual([]);
  });

  it('exports the process defaults under their standard names, event-loop lag included', async () => {
    const s = parseExposition(await createMetrics().registry.metrics());
    expect(samplesOf(s, 'process_cpu_user_seconds_total', { server: 'demo' })).toHaveLength(1);
    expect(samplesOf(s, 'nodejs_eventloop_lag_p99_seconds', { server: 'demo' })).toHaveLength(1);
    expect(samplesOf(s, 'sark_build_info')[0]?.labels.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});
