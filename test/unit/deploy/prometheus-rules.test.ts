/**
 * The alert rules in deploy/prometheus: promtool checks them and runs their
 * unit tests (a firing and a quiet case per alert); every alert names
 * exported metrics and labels, links to a runbook that exists and has the
 * four sections an on-call engineer needs. promtool comes from
 * scripts/test-env.sh (built from the Go module proxy, cached).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { buildDashboard } from '../../../scripts/gen-dashboard.ts';
import { requirePromtool } from '../../../scripts/tools.ts';
import { checkExpression, exportedMetrics, substituteGrafanaVariables } from '../../support/promql-check.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const RULES = join(ROOT, 'deploy/prometheus/sark-alerts.yaml');
const TESTS = join(ROOT, 'deploy/prometheus/tests/sark-alerts.test.yaml');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);
const alerts = rules.filter((r) => r.alert !== undefined);
const unitTests = parse(readFileSync(TESTS, 'utf8')) as {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
};

function promtool(args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(requirePromtool(), args, { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' }) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}` };
  }
}

describe('Prometheus alert rules (deploy/prometheus)', () => {
  it('promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES]);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.ok).toBe(true);
  });

  it('promtool test rules: every unit test passes', () => {
    const r = promtool(['test', 'rules', TESTS]);
    expect(r.out).toContain('SUCCESS');
    expect(r.ok).toBe(true);
  });

  it("the issue's alerts are all there", () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      'SarkAuditEventsDropped',
      'SarkAuditSpoolFilling',
      'SarkDenyRateSpike',
      'SarkLatencyBudgetExceeded',
      'SarkPolicyBreakerOpen',
      'SarkPolicyEngineDown',
      'SarkUpstreamErrors',
      'SarkWebhookCertExpiresSoon',
    ]);
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))('%s has a firing and a quiet unit test', (name) => {
    const cases = unitTests.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.alertname === name);
    expect(cases.some((c) => c.exp_alerts.length > 0)).toBe(true);
    expect(cases.some((c) => c.exp_alerts.length === 0)).toBe(true);
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))('%s names exported metrics with labels they have', (_n, a) => {
    expect(checkExpression(a.expr, exportedMetrics())).toEqual([]);
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))(
    '%s has a severity, a summary, a description and a runbook with symptom, checks, fix and verification',
    (_n, a) => {
      expect(['critical', 'warning']).toContain(a.labels?.severity);
      expect(a.annotations?.summary).toBeTruthy();
      expect(a.annotations?.description).toBeTruthy();
      const url = a.annotations!.runbook_url!;
      expect(url).toMatch(/^docs\/runbooks\/[a-z0-9-]+\.md$/);
      const path = join(ROOT, url);
      expect(existsSync(path), url).toBe(true);
      const text = readFileSync(path, 'utf8');
      expect(text).toContain(`# ${a.alert}`);
      for (const section of ['## Symptom', '## What to check', '## How to fix', '## How to verify']) {
        expect(text, `${url}: ${section}`).toContain(section);
      }
    },
  );

  it('every Grafana panel query is valid PromQL (promtool checks them as recording rules)', () => {
    const dashboard = buildDashboard() as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    const group = {
      groups: [
        {
          name: 'dashboard',
          rules: exprs.map((e, i) => ({ record: `dashboard:query:${i}`, expr: substituteGrafanaVariables(e) })),
        },
      ],
    };
    const dir = mkdtempSync(join(tmpdir(), 'sark-dashboard-rules-'));
    try {
      const file = join(dir, 'dashboard.yaml');
      writeFileSync(file, stringify(group));
      const r = promtool(['check', 'rules', file]);
      expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);
      expect(r.ok).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
