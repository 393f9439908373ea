/**
 * Checks that PromQL written for SARK (dashboard panels, alert rules) names
 * metrics the code really exports, with labels those metrics really have.
 * The truth is read from the registries the code builds (createMetrics(),
 * createWebhookMetrics()), never from a hand-kept list.
 *
 * Not a full PromQL parser: a tokenizer that is enough for the expressions we
 * write, and strict where it matters. Selectors (`name{matchers}`), bare
 * metric names and grouping clauses (by, without, on, ignoring, group_left,
 * group_right) are extracted; every other identifier must be a PromQL
 * function, aggregation, keyword or duration, so a metric name cannot hide.
 */
import { Registry } from 'prom-client';
import { createMetrics, createWebhookMetrics, DEFAULT_LABELS, TARGET_LABELS } from '../../src/observe/metrics.ts';

export type KnownMetrics = ReadonlyMap<string, ReadonlySet<string>>;

/** Every series name the code can export, with the labels each may carry. */
export function exportedMetrics(): KnownMetrics {
  const out = new Map<string, Set<string>>();
  const common = [...DEFAULT_LABELS, ...TARGET_LABELS];
  const add = (name: string, labels: readonly string[]) => out.set(name, new Set([...labels, ...common]));
  const webhook = new Registry();
  createWebhookMetrics(webhook);
  for (const registry of [createMetrics().registry, webhook]) {
    for (const m of registry.getMetricsAsArray() as unknown as {
      name: string;
      type: string;
      labelNames: string[];
    }[]) {
      const labels = m.labelNames ?? [];
      if (m.type === 'histogram') {
        add(`${m.name}_bucket`, [...labels, 'le']);
        add(`${m.name}_sum`, labels);
        add(`${m.name}_count`, labels);
      } else if (m.type === 'summary') {
        add(m.name, [...labels, 'quantile']);
        add(`${m.name}_sum`, labels);
        add(`${m.name}_count`, labels);
      } else {
        add(m.name, labels);
      }
    }
  }
  return out;
}

const FUNCTIONS = new Set(
  (
    'abs absent absent_over_time avg_over_time ceil changes clamp clamp_max clamp_min count_over_time day_of_month ' +
    'day_of_week days_in_month delta deriv exp floor histogram_quantile histogram_count histogram_sum holt_winters ' +
    'hour idelta increase irate label_join label_replace last_over_time ln log10 log2 max_over_time min_over_time ' +
    'minute month predict_linear present_over_time quantile_over_time rate resets round scalar sgn sort sort_desc ' +
    'sqrt stddev_over_time stdvar_over_time sum_over_time time timestamp vector year ' +
    'sum min max avg group stddev stdvar count count_values bottomk topk quantile label_values query_result'
  ).split(' '),
);
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless']);
const KEYWORDS_ALSO = new Set(['bool', 'offset', 'inf', 'nan', 'Inf', 'NaN']);
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
const SELECTOR = /([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g;
const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;

/** Grafana's variables, replaced by values PromQL accepts. */
export function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, '5m')
    .replace(/\$\{__(rate_interval|interval|range)(:[a-z]+)?\}/g, '5m')
    .replace(/\$__range_s\b/g, '300')
    .replace(/\$\{?[a-zA-Z_][a-zA-Z0-9_]*(:[a-z]+)?\}?/g, '.*');
}

export interface Extracted {
  readonly metrics: { name: string; labels: string[] }[];
  readonly grouping: string[];
}

export function extract(promql: string): Extracted {
  let expr = substituteGrafanaVariables(promql);
  const grouping: string[] = [];
  expr = expr.replace(GROUPING, (_, _kw, list: string) => {
    for (const l of list.split(',')) if (l.trim()) grouping.push(l.trim());
    return ' ';
  });
  const metrics: { name: string; labels: string[] }[] = [];
  expr = expr.replace(SELECTOR, (_, name: string | undefined, body: string) => {
    const labels = [...body.matchAll(MATCHER)].map((m) => m[1]!);
    const named = labels.indexOf('__name__');
    if (name === undefined && named === -1) throw new Error(`selector without a metric name: {${body}}`);
    metrics.push({ name: name ?? '', labels: labels.filter((l) => l !== '__name__') });
    return ' ';
  });
  // Strings left are function arguments (label_replace, label_values' label): drop them.
  expr = expr.replace(/"(?:[^"\\]|\\.)*"/g, ' ');
  for (const m of expr.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const next = expr.slice((m.index ?? 0) + word.length).trimStart();
    const prev = expr[(m.index ?? 0) - 1] ?? ' ';
    if (/[0-9.]/.test(prev)) continue; // the unit of a duration (5m) or an exponent
    if (FUNCTIONS.has(word) && next.startsWith('(')) continue;
    if (KEYWORDS.has(word) || KEYWORDS_ALSO.has(word)) continue;
    metrics.push({ name: word, labels: [] });
  }
  return { metrics, grouping };
}

/** Problems with one expression: unknown metrics, labels a metric does not have, grouping by a label none has. */
export function checkExpression(promql: string, known: KnownMetrics): string[] {
  const problems: string[] = [];
  let found: Extracted;
  try {
    found = extract(promql);
  } catch (err) {
    return [(err as Error).message];
  }
  if (found.metrics.length === 0) problems.push('names no metric');
  const all = new Set<string>();
  for (const { name, labels } of found.metrics) {
    const have = known.get(name);
    if (!have) {
      problems.push(`unknown metric ${name}`);
      continue;
    }
    for (const l of have) all.add(l);
    for (const l of labels) if (!have.has(l)) problems.push(`${name} has no label ${l}`);
  }
  for (const l of found.grouping) if (!all.has(l)) problems.push(`no metric here has the label ${l}`);
  return problems;
}

/** label_values(metric{…}, label) of a Grafana template variable. */
export function checkLabelValuesQuery(query: string, known: KnownMetrics): string[] {
  const m = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(query.trim());
  if (!m) return [`not a label_values() query: ${query}`];
  const problems = checkExpression(m[1]!, known);
  const { metrics } = extract(m[1]!);
  for (const { name } of metrics) if (!known.get(name)?.has(m[2]!)) problems.push(`${name} has no label ${m[2]}`);
  return problems;
}
