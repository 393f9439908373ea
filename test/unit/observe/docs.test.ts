import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics, createWebhookMetrics } from '../../../src/observe/metrics.ts';

const doc = readFileSync(new URL('../../../docs/observability.md', import.meta.url), 'utf8');

describe('docs/observability.md', () => {
  it('lists every metric SARK exports (the registry is the truth)', () => {
    const webhook = new Registry();
    createWebhookMetrics(webhook);
    const names = [createMetrics().registry, webhook]
      .flatMap((r) => r.getMetricsAsArray().map((m) => m.name))
      .filter((n) => n.startsWith('sark_'));
    expect(names.length).toBeGreaterThan(35);
    expect(names.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it('lists every alert with its runbook', () => {
    const rules = parse(
      readFileSync(new URL('../../../deploy/prometheus/sark-alerts.yaml', import.meta.url), 'utf8'),
    ) as { groups: { rules: { alert?: string; annotations?: { runbook_url?: string } }[] }[] };
    for (const r of rules.groups.flatMap((g) => g.rules)) {
      if (!r.alert) continue;
      expect(doc).toContain(`\`${r.alert}\``);
      expect(doc).toContain(r.annotations!.runbook_url!.replace(/^docs\//, '').replace(/\.md$/, ''));
    }
  });
});
