/**
 * SIEM forwarders: Splunk HTTP Event Collector and Datadog log intake. Each is
 * a sink behind its own channel and spool (channel.ts), which give it batching,
 * retries with exponential backoff, and durability; here is only the wire
 * format. Any answer but the documented success is a failure to retry, so a
 * batch is never acknowledged on a partial or unknown result.
 */
import { hostname } from 'node:os';
import type { AuditSink } from './channel.ts';

export interface SplunkHecOptions {
  /** Base URL (https://splunk:8088) or the full collector URL. */
  readonly url: string;
  readonly token: string;
  readonly index?: string | undefined;
  readonly source: string;
  readonly sourcetype: string;
  readonly host?: string | undefined;
}

/**
 * Events per HEC request: ~0.5 MB, well under the collector's
 * max_content_length, and each batch is encoded in one go on the event loop.
 */
export const SPLUNK_MAX_EVENTS = 1000;

/** Splunk HEC: POST /services/collector/event, `Authorization: Splunk <token>`, concatenated event objects. */
export function createSplunkSink(options: SplunkHecOptions): AuditSink {
  const url = new URL(options.url);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/services/collector/event';
  const host = options.host ?? hostname();
  const headers = { authorization: `Splunk ${options.token}`, 'content-type': 'application/json' };
  const meta = {
    host,
    source: options.source,
    sourcetype: options.sourcetype,
    ...(options.index ? { index: options.index } : {}),
  };
  return {
    name: 'splunk',
    maxBatch: SPLUNK_MAX_EVENTS,
    encode: (e) => JSON.stringify({ time: e.ts_ms / 1000, ...meta, event: e }),
    async send(lines, signal) {
      const body = `${lines.join('\n')}\n`;
      const res = await fetch(url, { method: 'POST', headers, body, signal });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`splunk HEC answered ${res.status}: ${text.slice(0, 200)}`);
      // HEC answers {"text":"Success","code":0}; any other code is a failure.
      const code = (JSON.parse(text) as { code?: unknown }).code;
      if (code !== 0) throw new Error(`splunk HEC answered code ${String(code)}: ${text.slice(0, 200)}`);
    },
    close: async () => {},
  };
}

export interface DatadogLogsOptions {
  readonly apiKey: string;
  /** Datadog site, e.g. datadoghq.com, datadoghq.eu, us5.datadoghq.com. */
  readonly site: string;
  /** Intake URL override (proxies, tests); default https://http-intake.logs.<site>/api/v2/logs. */
  readonly url?: string | undefined;
  readonly service: string;
  readonly tags?: string | undefined;
  readonly host?: string | undefined;
}

/** Datadog's documented limit for one POST /api/v2/logs payload. */
export const DATADOG_MAX_ENTRIES = 1000;

/** Datadog logs intake v2: POST a JSON array, `DD-API-KEY` header, 202 on success. */
export function createDatadogSink(options: DatadogLogsOptions): AuditSink {
  const url = new URL(options.url ?? `https://http-intake.logs.${options.site}/api/v2/logs`);
  const headers = { 'dd-api-key': options.apiKey, 'content-type': 'application/json' };
  const host = options.host ?? hostname();
  const envelope = {
    ddsource: 'sark',
    service: options.service,
    hostname: host,
    ...(options.tags ? { ddtags: options.tags } : {}),
  };
  return {
    name: 'datadog',
    maxBatch: DATADOG_MAX_ENTRIES,
    // The message is the event as JSON: Datadog parses JSON messages into attributes.
    encode: (e) => JSON.stringify({ ...envelope, message: JSON.stringify(e) }),
    async send(lines, signal) {
      const res = await fetch(url, { method: 'POST', headers, body: `[${lines.join(',')}]`, signal });
      const text = await res.text();
      if (res.status !== 202 && res.status !== 200)
        throw new Error(`datadog intake answered ${res.status}: ${text.slice(0, 200)}`);
    },
    close: async () => {},
  };
}
