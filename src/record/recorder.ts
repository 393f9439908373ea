/**
 * Builds the audit recorder from the configuration: one channel (queue,
 * batcher, spool) per remote sink, fanned out from a single `record` call,
 * and the local destinations: the NDJSON file (by default when no ClickHouse
 * and no stdout is configured) and standard output. Fails at start-up on a
 * file or spool directory it cannot write; a remote sink that is down at
 * start-up is not an error (its events are spooled until it answers). A
 * sink's client library is loaded only when the sink is configured.
 */
import { join, resolve } from 'node:path';
import type { SarkConfig } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { AuditMetrics } from '../observe/metrics.ts';
import { type AuditRecorder, nullRecorder } from './audit.ts';
import { AuditChannel, type AuditSink } from './channel.ts';
import type { AuditEvent } from './event.ts';
import { createAuditFileRecorder, createStdoutRecorder } from './local.ts';
import { AuditSpool } from './spool.ts';

export const DEFAULT_AUDIT_FILE = 'sark-audit.ndjson';

type AuditConfig = Pick<
  SarkConfig,
  | 'auditFile'
  | 'auditFileMaxBytes'
  | 'auditFileMaxFiles'
  | 'auditStdout'
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
export async function configuredSinks(config: AuditConfig): Promise<AuditSink[]> {
  const sinks: AuditSink[] = [];
  if (config.auditClickhouseUrl) {
    const { createClickHouseSink } = await import('./clickhouse.ts');
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
    const { createSplunkSink } = await import('./siem.ts');
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
    const { createDatadogSink } = await import('./siem.ts');
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
  const sinks = await configuredSinks(config);
  const channels: AuditChannel[] = [];
  try {
    for (const sink of sinks) {
      const dir = resolve(join(config.auditSpoolDir, sink.name));
      let spool: AuditSpool<string | AuditEvent>;
      try {
        spool = await AuditSpool.open<string | AuditEvent>({
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

  let local: AuditRecorder;
  try {
    local = await localRecorder(config, metrics, logger);
  } catch (err) {
    await Promise.all(channels.map((c) => c.close(0)));
    await Promise.all(sinks.map((s) => s.close()));
    throw err;
  }
  if (channels.length === 0) return local;
  return fanOut(channels, local, config.auditCloseGraceMs);
}

/** The file and stdout destinations as one recorder (nullRecorder when neither is on). */
async function localRecorder(config: AuditConfig, metrics: AuditMetrics, logger: Logger): Promise<AuditRecorder> {
  const path = config.auditFile ?? (config.auditClickhouseUrl || config.auditStdout ? undefined : DEFAULT_AUDIT_FILE);
  const local: AuditRecorder[] = [];
  if (config.auditStdout) local.push(createStdoutRecorder(metrics, logger));
  if (path && path !== 'off') {
    try {
      local.push(
        await createAuditFileRecorder(
          { path, maxBytes: config.auditFileMaxBytes, maxFiles: config.auditFileMaxFiles },
          metrics,
          logger,
        ),
      );
    } catch (err) {
      await Promise.all(local.map((r) => r.close()));
      throw err;
    }
  }
  if (local.length <= 1) return local[0] ?? nullRecorder;
  return {
    record(event) {
      for (const r of local) r.record(event);
    },
    async close() {
      await Promise.all(local.map((r) => r.close()));
    },
  };
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
