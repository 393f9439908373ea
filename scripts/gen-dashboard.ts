/**
 * Generates deploy/grafana/sark-dashboard.json (`npm run dashboard:build`).
 * The JSON is generated, do not edit it: change the panels here.
 * test/unit/deploy/grafana-dashboard.test.ts regenerates it and fails on any
 * difference, and checks every query against the metrics the code exports.
 *
 * Layout, top to bottom, the order an on-call engineer asks in: is it up and
 * deciding (overview), what do callers see (golden signals per server and
 * tool), what does the policy say (decision mix, deny reasons), is the
 * policy path healthy (cache, breaker, Redis), is the MCP server healthy
 * (upstream), is the evidence safe (audit), is the sidecar saturated.
 */
import { writeFileSync } from 'node:fs';

type Unit = 's' | 'reqps' | 'percentunit' | 'bytes' | 'short' | 'ops' | 'none' | 'dateTimeFromNow';

interface Target {
  readonly expr: string;
  readonly legend: string;
  readonly instant?: boolean;
}

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly type: 'timeseries' | 'stat' | 'bargauge' | 'table';
  readonly unit: Unit;
  readonly targets: readonly Target[];
  readonly w?: number;
  readonly h?: number;
  readonly stack?: boolean;
  readonly thresholds?: readonly { value: number | null; color: string }[];
  readonly mappings?: readonly Record<string, unknown>[];
}

/** Selector of the dashboard's server and instance variables. */
const S = 'server=~"$server", instance=~"$instance"';
const RI = '$__rate_interval';
const FAILURE_REASONS = 'policy_(unavailable|timeout|circuit_open|malformed)';

/** Grafana's datasource variable (a literal `${datasource}` in the JSON, not a template string). */
const DATASOURCE = { type: 'prometheus', uid: '$' + '{datasource}' };

const q = (expr: string, legend: string, instant = false): Target => ({ expr, legend, instant });
const quantile = (p: number, metric: string, by: string, extra = '') =>
  `histogram_quantile(${p}, sum by (${by}le) (rate(${metric}_bucket{${S}${extra}}[${RI}])))`;

const ROWS: readonly { title: string; panels: readonly PanelSpec[] }[] = [
  {
    title: 'Overview',
    panels: [
      {
        title: 'Messages / s',
        description: 'MCP messages SARK handled (sark_requests_total), all outcomes.',
        type: 'stat',
        unit: 'reqps',
        w: 4,
        h: 4,
        targets: [q(`sum(rate(sark_requests_total{${S}}[${RI}]))`, 'messages/s')],
      },
      {
        title: 'Denied',
        description: 'Share of messages refused: policy denials, fail-closed denials, rate limits.',
        type: 'stat',
        unit: 'percentunit',
        w: 4,
        h: 4,
        thresholds: [
          { value: null, color: 'green' },
          { value: 0.2, color: 'orange' },
          { value: 0.5, color: 'red' },
        ],
        targets: [
          q(
            `sum(rate(sark_requests_total{${S}, outcome="deny"}[${RI}])) / sum(rate(sark_requests_total{${S}}[${RI}]))`,
            'denied',
          ),
        ],
      },
      {
        title: 'Errors',
        description: 'Share of messages answered with an error: unreadable by SARK, or the MCP server failed.',
        type: 'stat',
        unit: 'percentunit',
        w: 4,
        h: 4,
        thresholds: [
          { value: null, color: 'green' },
          { value: 0.01, color: 'orange' },
          { value: 0.05, color: 'red' },
        ],
        targets: [
          q(
            `sum(rate(sark_requests_total{${S}, outcome="error"}[${RI}])) / sum(rate(sark_requests_total{${S}}[${RI}]))`,
            'errors',
          ),
        ],
      },
      {
        title: 'SARK overhead P95',
        description: "SARK's own time per message (arrival to hand-off or refusal). Alert budget: 10 ms.",
        type: 'stat',
        unit: 's',
        w: 4,
        h: 4,
        thresholds: [
          { value: null, color: 'green' },
          { value: 0.005, color: 'orange' },
          { value: 0.01, color: 'red' },
        ],
        targets: [q(quantile(0.95, 'sark_request_overhead_seconds', ''), 'P95')],
      },
      {
        title: 'Policy engine',
        description:
          'sark_policy_engine_up: the engine answers decisions (decisions and an idle probe). 0: every call is denied.',
        type: 'stat',
        unit: 'none',
        w: 4,
        h: 4,
        mappings: [
          { type: 'value', options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } },
        ],
        targets: [q(`min(sark_policy_engine_up{${S}})`, 'engine up')],
      },
      {
        title: 'Circuit breaker',
        description: 'sark_policy_breaker_state: worst of the selected sidecars (0 closed, 1 half-open, 2 open).',
        type: 'stat',
        unit: 'none',
        w: 4,
        h: 4,
        mappings: [
          {
            type: 'value',
            options: {
              '0': { text: 'closed', color: 'green' },
              '1': { text: 'half-open', color: 'orange' },
              '2': { text: 'OPEN', color: 'red' },
            },
          },
        ],
        targets: [q(`max(sark_policy_breaker_state{${S}})`, 'breaker')],
      },
    ],
  },
  {
    title: 'Golden signals per server',
    panels: [
      {
        title: 'Rate by method and outcome',
        description: 'sark_requests_total: allow (forwarded), deny (refused), error.',
        type: 'timeseries',
        unit: 'reqps',
        stack: true,
        targets: [
          q(
            `sum by (server, method, outcome) (rate(sark_requests_total{${S}}[${RI}]))`,
            '{{server}} {{method}} {{outcome}}',
          ),
        ],
      },
      {
        title: 'Errors by reason',
        description:
          'sark_errors_total by catalogue reason (docs/errors.md): what SARK could not read, and upstream failures.',
        type: 'timeseries',
        unit: 'reqps',
        stack: true,
        targets: [q(`sum by (server, reason) (rate(sark_errors_total{${S}}[${RI}]))`, '{{server}} {{reason}}')],
      },
      {
        title: 'Latency by method (P50, P95, P99)',
        description: 'sark_request_duration_seconds: arrival to answer complete, upstream included; streams not timed.',
        type: 'timeseries',
        unit: 's',
        targets: [
          q(quantile(0.5, 'sark_request_duration_seconds', 'server, method, '), 'P50 {{server}} {{method}}'),
          q(quantile(0.95, 'sark_request_duration_seconds', 'server, method, '), 'P95 {{server}} {{method}}'),
          q(quantile(0.99, 'sark_request_duration_seconds', 'server, method, '), 'P99 {{server}} {{method}}'),
        ],
      },
      {
        title: 'SARK overhead by method and outcome (P95)',
        description: 'sark_request_overhead_seconds: what SARK adds (parse, identity, policy, obligations).',
        type: 'timeseries',
        unit: 's',
        targets: [
          q(
            quantile(0.95, 'sark_request_overhead_seconds', 'server, method, outcome, '),
            '{{server}} {{method}} {{outcome}}',
          ),
        ],
      },
    ],
  },
  {
    title: 'Tools',
    panels: [
      {
        title: 'Tool calls by tool and outcome',
        description: 'sark_tool_calls_total. Tools outside the policy catalogue and metricsToolNames count as "other".',
        type: 'timeseries',
        unit: 'reqps',
        stack: true,
        targets: [
          q(`sum by (tool, outcome) (rate(sark_tool_calls_total{${S}, tool=~"$tool"}[${RI}]))`, '{{tool}} {{outcome}}'),
        ],
      },
      {
        title: 'Tool latency P95',
        description: 'sark_tool_call_duration_seconds: forwarded calls, arrival to answer complete.',
        type: 'timeseries',
        unit: 's',
        targets: [q(quantile(0.95, 'sark_tool_call_duration_seconds', 'tool, ', ', tool=~"$tool"'), '{{tool}}')],
      },
      {
        title: 'Tool deny share',
        description: 'Per tool: denied calls over all calls.',
        type: 'bargauge',
        unit: 'percentunit',
        targets: [
          q(
            `sum by (tool) (rate(sark_tool_calls_total{${S}, tool=~"$tool", outcome="deny"}[${RI}])) / sum by (tool) (rate(sark_tool_calls_total{${S}, tool=~"$tool"}[${RI}]))`,
            '{{tool}}',
            true,
          ),
        ],
      },
      {
        title: 'Tool errors',
        description: 'Per tool: calls that failed upstream or in SARK.',
        type: 'timeseries',
        unit: 'reqps',
        targets: [
          q(`sum by (tool) (rate(sark_tool_calls_total{${S}, tool=~"$tool", outcome="error"}[${RI}]))`, '{{tool}}'),
        ],
      },
    ],
  },
  {
    title: 'Decisions',
    panels: [
      {
        title: 'Decision mix',
        description: 'sark_decisions_total: policy allows, policy denies, and fail-closed denies (no valid decision).',
        type: 'timeseries',
        unit: 'ops',
        stack: true,
        targets: [
          q(`sum(rate(sark_decisions_total{${S}, decision="allow"}[${RI}]))`, 'allow'),
          q(
            `sum(rate(sark_decisions_total{${S}, decision="deny", reason!~"${FAILURE_REASONS}"}[${RI}]))`,
            'deny (policy)',
          ),
          q(
            `sum(rate(sark_decisions_total{${S}, decision="deny", reason=~"${FAILURE_REASONS}"}[${RI}]))`,
            'deny (no decision: fail-closed)',
          ),
        ],
      },
      {
        title: 'Top deny reasons (dashboard range)',
        description:
          'The ten most frequent deny reasons. Unknown policy codes show as "other" (metricsReasonCodes adds yours).',
        type: 'bargauge',
        unit: 'short',
        targets: [
          q(
            `topk(10, sum by (reason) (increase(sark_decisions_total{${S}, decision="deny"}[$__range])))`,
            '{{reason}}',
            true,
          ),
        ],
      },
      {
        title: 'Decision latency P95 by engine and cache level',
        description:
          'sark_decision_duration_seconds: l1 in microseconds, l2 a Redis round trip, none an engine evaluation.',
        type: 'timeseries',
        unit: 's',
        targets: [q(quantile(0.95, 'sark_decision_duration_seconds', 'engine, cache, '), '{{engine}} {{cache}}')],
      },
      {
        title: 'Decisions by cache level',
        description: 'Where answers came from: l1, l2, coalesced, stale (degraded mode), none (the engine).',
        type: 'timeseries',
        unit: 'ops',
        stack: true,
        targets: [q(`sum by (cache) (rate(sark_decision_duration_seconds_count{${S}}[${RI}]))`, '{{cache}}')],
      },
    ],
  },
  {
    title: 'Cache, breaker, rate limits',
    panels: [
      {
        title: 'Cache hit ratio',
        description: 'sark_decision_cache_lookups_total: l1 hits over l1 lookups; l2 hits over l2 lookups.',
        type: 'timeseries',
        unit: 'percentunit',
        targets: [
          q(
            `sum(rate(sark_decision_cache_lookups_total{${S}, level="l1", result=~"hit|coalesced"}[${RI}])) / sum(rate(sark_decision_cache_lookups_total{${S}, level="l1"}[${RI}]))`,
            'l1',
          ),
          q(
            `sum(rate(sark_decision_cache_lookups_total{${S}, level="l2", result="hit"}[${RI}])) / sum(rate(sark_decision_cache_lookups_total{${S}, level="l2"}[${RI}]))`,
            'l2',
          ),
        ],
      },
      {
        title: 'Cache size',
        description: 'Entries and bytes of the in-process cache; invalidations on revision change.',
        type: 'timeseries',
        unit: 'short',
        targets: [
          q(`sum by (instance) (sark_decision_cache_entries{${S}})`, 'entries {{instance}}'),
          q(
            `sum by (source) (increase(sark_decision_cache_invalidations_total{${S}}[${RI}]))`,
            'invalidations ({{source}})',
          ),
        ],
      },
      {
        title: 'Breaker state and transitions',
        description: 'sark_policy_breaker_state per sidecar, and transitions into each state.',
        type: 'timeseries',
        unit: 'short',
        targets: [
          q(`max by (instance) (sark_policy_breaker_state{${S}})`, 'state {{instance}}'),
          q(`sum by (state) (increase(sark_policy_breaker_transitions_total{${S}}[${RI}]))`, 'entered {{state}}'),
          q(`sum(rate(sark_policy_breaker_rejections_total{${S}}[${RI}]))`, 'rejected/s'),
        ],
      },
      {
        title: 'Rate limited and Redis',
        description: 'Refusals by rate_limit obligations (by bucket store); Redis link and its failures.',
        type: 'timeseries',
        unit: 'ops',
        targets: [
          q(`sum by (store) (rate(sark_rate_limited_total{${S}}[${RI}]))`, 'rate limited ({{store}})'),
          q(`sum by (op) (rate(sark_redis_errors_total{${S}}[${RI}]))`, 'redis errors ({{op}})'),
          q(`min(sark_redis_up{${S}})`, 'redis up (min)'),
        ],
      },
    ],
  },
  {
    title: 'Upstream (the MCP server)',
    panels: [
      {
        title: 'Exchanges by status class',
        description: 'sark_upstream_requests_total: 2xx…5xx, client_closed, unavailable, timeout.',
        type: 'timeseries',
        unit: 'reqps',
        stack: true,
        targets: [
          q(
            `sum by (server, status_class) (rate(sark_upstream_requests_total{${S}}[${RI}]))`,
            '{{server}} {{status_class}}',
          ),
        ],
      },
      {
        title: 'Time to response headers (P50, P95)',
        description: 'sark_upstream_duration_seconds by status class.',
        type: 'timeseries',
        unit: 's',
        targets: [
          q(quantile(0.5, 'sark_upstream_duration_seconds', 'status_class, '), 'P50 {{status_class}}'),
          q(quantile(0.95, 'sark_upstream_duration_seconds', 'status_class, '), 'P95 {{status_class}}'),
        ],
      },
    ],
  },
  {
    title: 'Audit',
    panels: [
      {
        title: 'Events by sink',
        description: 'Queued, acknowledged, spooled, replayed, dropped (any drop is an alert).',
        type: 'timeseries',
        unit: 'ops',
        targets: [
          q(`sum by (sink) (rate(sark_audit_events_queued_total{${S}}[${RI}]))`, 'queued {{sink}}'),
          q(`sum by (sink) (rate(sark_audit_events_sent_total{${S}}[${RI}]))`, 'acknowledged {{sink}}'),
          q(`sum by (sink) (rate(sark_audit_events_spilled_total{${S}}[${RI}]))`, 'spooled {{sink}}'),
          q(`sum by (sink) (rate(sark_audit_events_replayed_total{${S}}[${RI}]))`, 'replayed {{sink}}'),
          q(
            `sum by (sink, reason) (rate(sark_audit_events_dropped_total{${S}}[${RI}]))`,
            'DROPPED {{sink}} {{reason}}',
          ),
        ],
      },
      {
        title: 'Audit delay P95 (decision → sink acknowledgement)',
        description:
          'sark_audit_delay_seconds: a flush interval when healthy; hours after an outage, while the spool replays.',
        type: 'timeseries',
        unit: 's',
        targets: [q(quantile(0.95, 'sark_audit_delay_seconds', 'sink, '), '{{sink}}')],
      },
      {
        title: 'Spool fill',
        description:
          'sark_audit_spool_bytes over sark_audit_spool_max_bytes per sidecar and sink; at 100 % batches are dropped.',
        type: 'timeseries',
        unit: 'percentunit',
        targets: [
          q(
            `max by (instance, sink) (sark_audit_spool_bytes{${S}}) / max by (instance, sink) (sark_audit_spool_max_bytes{${S}})`,
            '{{instance}} {{sink}}',
          ),
        ],
      },
      {
        title: 'Queue depth, sink errors, batch time',
        description: 'Events waiting in memory; failed deliveries; P95 time to deliver a batch.',
        type: 'timeseries',
        unit: 'short',
        targets: [
          q(`sum by (sink) (sark_audit_queue_events{${S}})`, 'queued now {{sink}}'),
          q(`sum by (sink) (increase(sark_audit_sink_errors_total{${S}}[${RI}]))`, 'sink errors {{sink}}'),
          q(quantile(0.95, 'sark_audit_batch_duration_seconds', 'sink, '), 'batch P95 (s) {{sink}}'),
        ],
      },
    ],
  },
  {
    title: 'Saturation',
    panels: [
      {
        title: 'Connections',
        description:
          'Open connections per listener; refusals (over the connection cap, malformed, too large, timed out).',
        type: 'timeseries',
        unit: 'short',
        targets: [
          q(`sum by (listener) (sark_connections_open{${S}})`, 'open {{listener}}'),
          q(
            `sum by (listener, reason) (rate(sark_connections_refused_total{${S}}[${RI}]))`,
            'refused/s {{listener}} {{reason}}',
          ),
          q(`sum by (listener) (rate(sark_connections_accepted_total{${S}}[${RI}]))`, 'accepted/s {{listener}}'),
        ],
      },
      {
        title: 'Sessions',
        description: 'sark_sessions_open by transport.',
        type: 'timeseries',
        unit: 'short',
        targets: [q(`sum by (transport) (sark_sessions_open{${S}})`, '{{transport}}')],
      },
      {
        title: 'Event-loop lag P99',
        description: 'nodejs_eventloop_lag_p99_seconds: above a few ms, every request waits.',
        type: 'timeseries',
        unit: 's',
        targets: [q(`max by (instance) (nodejs_eventloop_lag_p99_seconds{${S}})`, '{{instance}}')],
      },
      {
        title: 'CPU and memory',
        description: 'CPU seconds per second and resident memory per sidecar.',
        type: 'timeseries',
        unit: 'short',
        targets: [
          q(`sum by (instance) (rate(process_cpu_seconds_total{${S}}[${RI}]))`, 'CPU {{instance}}'),
          q(`max by (instance) (process_resident_memory_bytes{${S}}) / 1048576`, 'RSS MiB {{instance}}'),
          q(`max by (instance) (nodejs_heap_size_used_bytes{${S}}) / 1048576`, 'heap MiB {{instance}}'),
        ],
      },
      {
        title: 'Tracing export',
        description: 'Spans exported and dropped (tracing on only).',
        type: 'timeseries',
        unit: 'ops',
        targets: [
          q(`sum(rate(sark_tracing_spans_exported_total{${S}}[${RI}]))`, 'exported'),
          q(`sum by (reason) (rate(sark_tracing_spans_dropped_total{${S}}[${RI}]))`, 'dropped ({{reason}})'),
        ],
      },
      {
        title: 'Registry staleness',
        description:
          'Seconds since the last successful MCP Gateway Registry sync (empty while no registry is configured).',
        type: 'timeseries',
        unit: 's',
        targets: [
          q(`time() - max by (instance) (sark_registry_last_sync_timestamp_seconds{${S}} > 0)`, '{{instance}}'),
        ],
      },
    ],
  },
];

function panel(spec: PanelSpec, id: number, x: number, y: number): Record<string, unknown> {
  const w = spec.w ?? 12;
  const h = spec.h ?? 8;
  const fieldConfig: Record<string, unknown> = {
    defaults: {
      unit: spec.unit,
      ...(spec.thresholds ? { thresholds: { mode: 'absolute', steps: spec.thresholds } } : {}),
      ...(spec.mappings ? { mappings: spec.mappings } : {}),
      ...(spec.type === 'timeseries'
        ? {
            custom: {
              drawStyle: 'line',
              fillOpacity: spec.stack ? 30 : 10,
              stacking: { mode: spec.stack ? 'normal' : 'none' },
            },
          }
        : {}),
    },
    overrides: [],
  };
  return {
    id,
    type: spec.type,
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos: { x, y, w, h },
    fieldConfig,
    options:
      spec.type === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background' }
        : spec.type === 'bargauge'
          ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, orientation: 'horizontal' }
          : { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi', sort: 'desc' } },
    targets: spec.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: t.expr,
      legendFormat: t.legend,
      ...(t.instant ? { instant: true, range: false } : { range: true }),
    })),
  };
}

function variable(name: string, label: string, query: string, includeAll = true): Record<string, unknown> {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    query: { query, refId: `${name}-var` },
    definition: query,
    refresh: 2,
    multi: true,
    includeAll,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
  };
}

export function buildDashboard(): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({
      id: id++,
      type: 'row',
      title: row.title,
      collapsed: false,
      gridPos: { x: 0, y, w: 24, h: 1 },
      panels: [],
    });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const spec of row.panels) {
      const w = spec.w ?? 12;
      if (x + w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push(panel(spec, id++, x, y));
      x += w;
      rowHeight = Math.max(rowHeight, spec.h ?? 8);
    }
    y += rowHeight;
  }
  return {
    __comment: 'Generated by scripts/gen-dashboard.ts (npm run dashboard:build); do not edit.',
    uid: 'sark-overview',
    title: 'SARK — MCP authorization sidecar',
    description:
      'Golden signals per server and tool, decisions, cache and breaker, upstream, audit, saturation. Generated by scripts/gen-dashboard.ts; do not edit.',
    tags: ['sark', 'mcp'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-3h', to: 'now' },
    links: [
      {
        title: 'Runbooks',
        type: 'link',
        url: 'docs/runbooks/README.md',
        tooltip: 'docs/runbooks in the SARK repository',
      },
    ],
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Prometheus',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
        },
        variable('server', 'Server', 'label_values(sark_build_info, server)'),
        variable('instance', 'Sidecar', 'label_values(sark_build_info{server=~"$server"}, instance)'),
        variable('tool', 'Tool', 'label_values(sark_tool_calls_total{server=~"$server"}, tool)'),
      ],
    },
    annotations: {
      list: [
        {
          name: 'Breaker opened',
          datasource: DATASOURCE,
          enable: true,
          iconColor: 'red',
          expr: `increase(sark_policy_breaker_transitions_total{server=~"$server", state="open"}[1m]) > 0`,
          titleFormat: 'policy breaker opened ({{instance}})',
        },
      ],
    },
    panels,
  };
}

export const DASHBOARD_PATH = new URL('../deploy/grafana/sark-dashboard.json', import.meta.url);

export function renderDashboard(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(DASHBOARD_PATH, renderDashboard());
  process.stdout.write(`wrote ${DASHBOARD_PATH.pathname}\n`);
}
