import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_PATH, renderDashboard } from '../../../scripts/gen-dashboard.ts';
import { checkExpression, checkLabelValuesQuery, exportedMetrics } from '../../support/promql-check.ts';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; refId: string }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as {
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
  annotations: { list: { expr?: string }[] };
};
const known = exportedMetrics();
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');

describe('Grafana dashboard (deploy/grafana/sark-dashboard.json)', () => {
  it('is what scripts/gen-dashboard.ts generates (run `npm run dashboard:build`)', () => {
    expect(readFileSync(DASHBOARD_PATH, 'utf8')).toBe(renderDashboard());
  });

  it.each(queryPanels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t.refId, t.expr] as const)))(
    'panel "%s" query %s names exported metrics with labels they have',
    (_title, _ref, expr) => {
      expect(checkExpression(expr, known)).toEqual([]);
    },
  );

  it('the template variables and annotations query exported metrics and labels', () => {
    for (const v of dashboard.templating.list.filter((t) => t.type === 'query')) {
      const query = typeof v.query === 'string' ? v.query : v.query.query;
      expect(checkLabelValuesQuery(query, known), v.name).toEqual([]);
    }
    for (const a of dashboard.annotations.list) expect(checkExpression(a.expr!, known)).toEqual([]);
  });

  it('covers the golden signals, decisions, cache, breaker, audit and saturation', () => {
    const exprs = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const metric of [
      'sark_requests_total',
      'sark_request_duration_seconds_bucket',
      'sark_request_overhead_seconds_bucket',
      'sark_errors_total',
      'sark_tool_calls_total',
      'sark_tool_call_duration_seconds_bucket',
      'sark_decisions_total',
      'sark_decision_duration_seconds_bucket',
      'sark_decision_cache_lookups_total',
      'sark_policy_breaker_state',
      'sark_policy_engine_up',
      'sark_upstream_requests_total',
      'sark_audit_events_dropped_total',
      'sark_audit_delay_seconds_bucket',
      'sark_audit_spool_bytes',
      'sark_connections_open',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(exprs, metric).toContain(metric);
    }
  });

  it('has unique panel ids and no overlapping panels', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const cell = `${x},${y}`;
          expect(cells.has(cell), `${p.title} overlaps at ${cell}`).toBe(false);
          cells.add(cell);
        }
      }
    }
  });

  it('the checker itself refuses unknown metrics and labels', () => {
    expect(checkExpression('rate(sark_no_such_metric_total[5m])', known)).toEqual([
      'unknown metric sark_no_such_metric_total',
    ]);
    expect(checkExpression('sum by (agent_id) (rate(sark_requests_total{tool="x"}[5m]))', known)).toEqual([
      'sark_requests_total has no label tool',
      'no metric here has the label agent_id',
    ]);
    expect(
      checkExpression('histogram_quantile(0.9, sum by (le) (rate(sark_decision_duration_seconds_bucket[5m])))', known),
    ).toEqual([]);
  });
});
