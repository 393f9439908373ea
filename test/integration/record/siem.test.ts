/**
 * Splunk HEC and Datadog forwarders against loopback intakes that implement
 * those endpoints: wire format and auth, and every event delivered exactly
 * once after the intake was down and came back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { createAuditMetrics } from '../../../src/observe/metrics.ts';
import { createAuditRecorder } from '../../../src/record/recorder.ts';
import { auditEvent, memoryLogger, until } from '../../support/audit-events.ts';
import { type SiemServer, startDatadogIntake, startSplunkHec } from '../../support/siem-servers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const splunk = await startSplunkHec('hec-token-123');
  const datadog = await startDatadogIntake('dd-key-456');
  const spool = mkdtempSync(join(tmpdir(), 'sark-siem-'));
  cleanups.push(
    () => splunk.close(),
    () => datadog.close(),
    () => rmSync(spool, { recursive: true, force: true }),
  );
  const config = loadConfig({
    argv: [
      '--audit-file',
      'off',
      '--audit-spool-dir',
      spool,
      '--audit-flush-interval-ms',
      '30',
      '--audit-batch-size',
      '50',
      '--splunk-hec-url',
      splunk.url,
      '--splunk-hec-token',
      'hec-token-123',
      '--splunk-index',
      'security',
      '--datadog-api-key',
      'dd-key-456',
      '--datadog-logs-url',
      `${datadog.url}/api/v2/logs`,
      '--datadog-tags',
      'env:test',
    ],
    env: {},
  });
  const recorder = await createAuditRecorder(config, createAuditMetrics(new Registry()), memoryLogger().logger);
  cleanups.push(() => recorder.close());
  return { splunk, datadog, recorder };
}

function idsOf(server: SiemServer): string[] {
  return server.received.map((e) => String(e.request_id));
}

describe('SIEM forwarders', () => {
  it('speak the Splunk HEC and Datadog intake formats', async () => {
    const { splunk, datadog, recorder } = await setup();
    const e = auditEvent({ ts_ms: 1_700_000_000_123 });
    recorder.record(e);
    await until('delivered', () => splunk.received.length === 1 && datadog.received.length === 1);
    expect(splunk.entries[0]).toMatchObject({
      time: 1_700_000_000.123,
      index: 'security',
      source: 'sark',
      sourcetype: 'sark:audit',
      event: { request_id: e.request_id },
    });
    expect(datadog.entries[0]).toMatchObject({ ddsource: 'sark', service: 'sark', ddtags: 'env:test' });
    expect(datadog.received[0]).toEqual(JSON.parse(JSON.stringify(e)));
  });

  it('intakes down then up: every event delivered exactly once, in order', async () => {
    const { splunk, datadog, recorder } = await setup();
    const ids: string[] = [];
    const emit = (n: number) => {
      for (let i = 0; i < n; i++) {
        const e = auditEvent();
        ids.push(e.request_id);
        recorder.record(e);
      }
    };
    emit(120);
    await until('first events', () => splunk.received.length === 120 && datadog.received.length === 120);
    splunk.failWith(503);
    datadog.failWith(500);
    const failedBefore = splunk.requests;
    emit(300);
    await until('intakes refused batches', () => splunk.requests > failedBefore + 1);
    splunk.recover();
    datadog.recover();
    emit(80);
    await until(
      'all delivered after recovery',
      () => splunk.received.length >= 500 && datadog.received.length >= 500,
      30_000,
    );
    await recorder.close();
    expect(idsOf(splunk)).toEqual(ids);
    expect(idsOf(datadog)).toEqual(ids);
  }, 60_000);
});
