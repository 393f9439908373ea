/**
 * Builds the audit recorder from the configuration: one channel (queue,
 * batcher, spool) per remote sink, fanned out from a single `record` call,
 * or the local NDJSON file when no ClickHouse is configured. Fails at start-up
 * on a spool directory it cannot create; a sink that is down at start-up is
 * not an error (its events are spooled until it answers).
 */
import { join, resolve } from 'node:path';
import type { SarkConfig } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { AuditMetrics } from '../observe/metrics.ts';
import { type AuditRecorder, createFileRecorder, nullRecorder } from './audit.ts';
import { AuditChannel, type AuditSink, type SpooledEvent } from './channel.ts';
import { createClickHouseSink } from './clickhouse.ts';
import { createDatadogSink, createSplunkSink } from './siem.ts';
import { AuditSpool } from './spool.ts';

export const DEFAULT_AUDIT_FILE = 'sark-audit.ndjson';

type AuditConfig = Pick<
  SarkConfig,
  | 'auditFile'
  | 'auditClickhouseUrl'
  | 'auditClickhouseDatabase'
  | 'auditClickhouseTable'
  | 'auditClickhouseUser'
  | 'auditClickhousePassword'
  | 'auditBatchSize'
  | 'auditFlushIntervalMs'
  | 'auditQueueMaxEvents'
  | 'auditSendTimeoutMs'
  | 'auditSpoolDir'
  | 'auditSpoolMaxBytes'
  | 'auditSpoolFsync'
  | 'auditCloseGraceMs'
  | 'splunkHecUrl'
  | 'splunkHecToken'
  | 'splunkIndex'
  | 'splunkSource'
  | 'splunkSourcetype'
  | 'datadogApiKey'
  | 'datadogSite'
  | 'datadogLogsUrl'
  | 'datadogService'
  | 'datadogTags'
>;

/** The remote sinks the configuration asks for (validated: a URL without its token fails here). */
export function configuredSinks(config: AuditConfig): AuditSink[] {
  const sinks: AuditSink[] = [];
  if (config.auditClickhouseUrl) {
    sinks.push(
      createClickHouseSink({
        url: config.auditClickhouseUrl,
        database: config.auditClickhouseDatabase,
        table: config.auditClickhouseTable,
        username: config.auditClickhouseUser,
        password: config.auditClickhousePassword,
        requestTimeoutMs: config.auditSendTimeoutMs,
      }),
    );
  }
  if (config.splunkHecUrl || config.splunkHecToken) {
    if (!config.splunkHecUrl || !config.splunkHecToken) {
      throw new ConfigError('splunkHecUrl and splunkHecToken must be set together');
    }
    sinks.push(
      createSplunkSink({
        url: config.splunkHecUrl,
        token: config.splunkHecToken,
        index: config.splunkIndex,
        source: config.splunkSource,
        sourcetype: config.splunkSourcetype,
      }),
    );
  }
  if (config.datadogApiKey) {
    sinks.push(
      createDatadogSink({
        apiKey: config.datadogApiKey,
        site: config.datadogSite,
        url: config.datadogLogsUrl,
        service: config.datadogService,
        tags: config.datadogTags,
      }),
    );
  } else if (config.datadogLogsUrl) {
    throw new ConfigError('datadogLogsUrl is set but datadogApiKey is not');
  }
  return sinks;
}

export async function createAuditRecorder(
  config: AuditConfig,
  metrics: AuditMetrics,
  logger: Logger,
): Promise<AuditRecorder> {
  const sinks = configuredSinks(config);
  const channels: AuditChannel[] = [];
  try {
    for (const sink of sinks) {
      const dir = resolve(join(config.auditSpoolDir, sink.name));
      let spool: AuditSpool<SpooledEvent>;
      try {
        spool = await AuditSpool.open<SpooledEvent>({
          dir,
          maxBytes: config.auditSpoolMaxBytes,
          fsync: config.auditSpoolFsync,
        });
      } catch (err) {
        throw new ConfigError(`auditSpoolDir: cannot open ${dir}: ${(err as Error).message}`);
      }
      channels.push(
        new AuditChannel({
          sink,
          spool,
          metrics,
          logger,
          batchSize: Math.min(config.auditBatchSize, sink.maxBatch ?? config.auditBatchSize),
          flushIntervalMs: config.auditFlushIntervalMs,
          maxQueueEvents: config.auditQueueMaxEvents,
          sendTimeoutMs: config.auditSendTimeoutMs,
        }),
      );
    }
  } catch (err) {
    await Promise.all(channels.map((c) => c.close(0)));
    await Promise.all(sinks.map((s) => s.close()));
    throw err;
  }

  const file = config.auditFile ?? (config.auditClickhouseUrl ? undefined : DEFAULT_AUDIT_FILE);
  const local = file && file !== 'off' ? createFileRecorder(file, metrics, logger) : nullRecorder;
  if (channels.length === 0) return local;
  return fanOut(channels, local, config.auditCloseGraceMs);
}

/** One `record` call feeding every channel; a channel never throws, this guards the request path anyway. */
export function fanOut(channels: readonly AuditChannel[], local: AuditRecorder, graceMs: number): AuditRecorder {
  return {
    record(event) {
      try {
        local.record(event);
        for (const c of channels) c.record(event);
      } catch {}
    },
    async close() {
      await Promise.all([local.close(), ...channels.map((c) => c.close(graceMs))]);
    },
  };
}
