/**
 * The local audit destinations: an NDJSON file rotated by size
 * (rotating-file-stream: the live file keeps its name, rotated ones are
 * `<file>.1` … `<file>.<maxFiles>`, the oldest deleted), and standard output
 * for containers whose log collector ships it (SARK's own logs go to standard
 * error).
 *
 * `record` never blocks and never throws. One write is in flight at a time,
 * carrying every line recorded since the previous one left (lines of one
 * event-loop turn at least): at a steady rate that is one write per turn,
 * and a destination that falls behind gets fewer, larger writes (up to
 * 1 MiB; at most a sixteenth of the rotation size, which a file passes by at
 * most one write before it is rotated). An event is counted sent when its
 * write has returned. A destination that fails (a full disk: ENOSPC, EDQUOT,
 * or EFBIG past a file size limit) costs events, never requests: they are
 * dropped and counted (reason disk_full or file_error), the failure is logged
 * (at most once per interval, with the running count), and the destination is
 * reopened with backoff, so writing resumes by itself once there is room.
 * After a failure the first line starts on a new line: a write cut short by
 * the full disk leaves at most that one partial line.
 *
 * Whether the destination can be written at all is checked at start-up: a
 * path that cannot be opened fails there, naming the field.
 */
import { constants, createWriteStream, fstatSync } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { createStream } from 'rotating-file-stream';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { AuditMetrics } from '../observe/metrics.ts';
import type { AuditEvent, AuditRecorder } from './audit.ts';

/** Bytes waiting to be written past which new events are dropped (queue_full) rather than held. */
export const LOCAL_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/** Lines waiting past which a write leaves at once. */
const WRITE_BATCH_BYTES = 256 * 1024;
/**
 * How long an event waits for others to share its write. One write per event
 * loop turn cost a file write (and a thread-pool round trip) per request at
 * moderate rates, 8 % of SARK's CPU at 1000 req/s (issue 19's profile); one
 * write per interval costs a few per second. Events still queued at shutdown
 * are written by close().
 */
const WRITE_DELAY_MS = 20;
/** Largest write (a line longer than it goes alone). */
const WRITE_MAX_BYTES = 1024 * 1024;
const REOPEN_FIRST_MS = 500;
const REOPEN_MAX_MS = 30_000;
const LOG_INTERVAL_MS = 10_000;

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

export interface AuditFileOptions {
  readonly path: string;
  /** Size at which the file is rotated, in bytes; 0: never. */
  readonly maxBytes: number;
  /** Rotated files kept beside the live one. */
  readonly maxFiles: number;
}

/** The rotated NDJSON file; fails with a ConfigError naming auditFile when the path cannot be written. */
export async function createAuditFileRecorder(
  options: AuditFileOptions,
  metrics: AuditMetrics | undefined,
  logger: Logger | undefined,
): Promise<AuditRecorder> {
  const { path, maxBytes, maxFiles } = options;
  try {
    const handle = await open(path, 'a');
    await handle.close();
    // Rotation renames in the directory: it must be writable too.
    if (maxBytes > 0) await access(dirname(path), constants.W_OK);
  } catch (err) {
    throw new ConfigError(
      `auditFile (${path}): cannot be written: ${(err as Error).message}. Set --audit-file / SARK_AUDIT_FILE to a writable path, or "off"`,
    );
  }
  const openStream = (): Writable =>
    maxBytes > 0
      ? createStream(path, { size: `${maxBytes}B`, rotate: maxFiles })
      : createWriteStream(path, { flags: 'a' });
  const maxWriteBytes =
    maxBytes > 0 ? Math.min(WRITE_MAX_BYTES, Math.max(4096, Math.floor(maxBytes / 16))) : WRITE_MAX_BYTES;
  return new LineRecorder('file', openStream, maxWriteBytes, metrics, logger, { path });
}

/** NDJSON on standard output (file descriptor 1, written off the event loop). */
export function createStdoutRecorder(metrics: AuditMetrics | undefined, logger: Logger | undefined): AuditRecorder {
  try {
    fstatSync(1);
  } catch (err) {
    throw new ConfigError(`auditStdout: standard output is not open (${(err as Error).message})`);
  }
  // fs.write on the thread pool: process.stdout writes to a pipe synchronously on Linux,
  // and would stall every request while a log collector is slow to read.
  const openStream = () => createWriteStream('', { fd: 1, autoClose: false });
  return new LineRecorder('stdout', openStream, WRITE_MAX_BYTES, metrics, logger, {});
}

class LineRecorder implements AuditRecorder {
  readonly #sink: string;
  readonly #open: () => Writable;
  readonly #maxWriteBytes: number;
  readonly #logger: Logger | undefined;
  readonly #logContext: Record<string, unknown>;
  readonly #metrics: AuditMetrics | undefined;
  readonly #queued;
  readonly #sent;
  readonly #delay;
  #stream: Writable | undefined;
  /** Lines waiting, from #head on (a queue without a shift per write). */
  #pending: string[] = [];
  /** Each pending line's decision time (unix ms), for sark_audit_delay_seconds. */
  #pendingTs: number[] = [];
  #head = 0;
  #pendingBytes = 0;
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #flushLater = (): void => this.#flush();
  #writing = false;
  #drained: (() => void) | undefined;
  /** Why events are dropped while the stream is down. */
  #downReason = 'file_error';
  #reopenMs = REOPEN_FIRST_MS;
  #reopenTimer: NodeJS.Timeout | undefined;
  #startOnNewLine = false;
  #closed = false;
  #droppedSinceLog = 0;
  #lastLog = 0;

  constructor(
    sink: string,
    openStream: () => Writable,
    maxWriteBytes: number,
    metrics: AuditMetrics | undefined,
    logger: Logger | undefined,
    logContext: Record<string, unknown>,
  ) {
    this.#sink = sink;
    this.#open = openStream;
    this.#maxWriteBytes = maxWriteBytes;
    this.#metrics = metrics;
    this.#logger = logger;
    this.#logContext = logContext;
    this.#queued = metrics?.queued.labels(sink);
    this.#sent = metrics?.sent.labels(sink);
    this.#delay = metrics?.delaySeconds.labels(sink);
    this.#stream = this.#attach(openStream());
  }

  record(event: AuditEvent): void {
    if (this.#closed) {
      this.#drop('closed', 1);
      return;
    }
    const stream = this.#stream;
    if (stream === undefined) {
      this.#drop(this.#downReason, 1);
      return;
    }
    if (stream.writableLength + this.#pendingBytes > LOCAL_MAX_BUFFERED_BYTES) {
      this.#drop('queue_full', 1);
      return;
    }
    const line = `${JSON.stringify(event)}\n`;
    this.#pending.push(line);
    this.#pendingTs.push(event.ts_ms);
    this.#pendingBytes += line.length;
    this.#queued?.inc();
    if (this.#pendingBytes >= WRITE_BATCH_BYTES) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      this.#timer = setTimeout(this.#flushLater, WRITE_DELAY_MS);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#flush();
    if (this.#writing) await new Promise<void>((resolve) => (this.#drained = resolve));
    this.#closed = true;
    clearTimeout(this.#reopenTimer);
    const stream = this.#stream;
    if (stream === undefined || stream.destroyed) return;
    await new Promise<void>((resolve) => {
      stream.once('error', () => resolve());
      stream.end(() => resolve());
    });
  }

  #flush(): void {
    if (this.#scheduled) {
      clearTimeout(this.#timer);
      this.#scheduled = false;
    }
    if (this.#writing || this.#head === this.#pending.length) return;
    const start = this.#head;
    let end = start;
    let bytes = 0;
    while (end < this.#pending.length && (end === start || bytes + this.#pending[end]!.length <= this.#maxWriteBytes)) {
      bytes += this.#pending[end]!.length;
      end++;
    }
    const n = end - start;
    let text = n === 1 ? this.#pending[start]! : this.#pending.slice(start, end).join('');
    const times = this.#delay ? this.#pendingTs.slice(start, end) : undefined;
    if (end === this.#pending.length) {
      this.#pending = [];
      this.#pendingTs = [];
      this.#head = 0;
    } else if (end > 1024) {
      // Written lines before #head would stay referenced: let them go.
      this.#pending = this.#pending.slice(end);
      this.#pendingTs = this.#pendingTs.slice(end);
      this.#head = 0;
    } else {
      this.#head = end;
    }
    this.#pendingBytes -= bytes;
    const stream = this.#stream;
    if (stream === undefined) {
      this.#drop(this.#downReason, n);
      return;
    }
    if (this.#startOnNewLine) {
      text = `\n${text}`;
      this.#startOnNewLine = false;
    }
    this.#writing = true;
    stream.write(text, (err) => {
      this.#writing = false;
      if (err) this.#drop(this.#reasonFor(err), n);
      else {
        this.#sent?.inc(n);
        if (times) {
          const now = Date.now();
          for (const ts of times) this.#delay!.observe(Math.max(0, now - ts) / 1000);
        }
        this.#reopenMs = REOPEN_FIRST_MS;
      }
      this.#flush();
      if (!this.#writing && this.#drained) {
        this.#drained();
        this.#drained = undefined;
      }
    });
  }

  #attach(stream: Writable): Writable {
    stream.on('error', (err) => this.#fail(stream, err));
    return stream;
  }

  /**
   * A failed write's drop reason. Writes queued behind the one that failed are
   * refused as ERR_STREAM_DESTROYED before the stream's 'error' event: they
   * share the failure's reason.
   */
  #reasonFor(err: Error): string {
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_DESTROYED') return this.#downReason;
    this.#downReason = reasonOf(err);
    return this.#downReason;
  }

  /** The stream is dead: events are dropped until a reopened one takes writes again. */
  #fail(stream: Writable, err: Error): void {
    if (this.#stream !== stream) return;
    this.#stream = undefined;
    this.#downReason = reasonOf(err);
    this.#startOnNewLine = true;
    stream.destroy();
    this.#logger?.error(
      { ...this.#logContext, sink: this.#sink, err, reason: this.#downReason, retryInMs: this.#reopenMs },
      'audit destination failed; its events are dropped (and counted) until it can be written again',
    );
    if (this.#closed) return;
    this.#reopenTimer = setTimeout(() => {
      this.#reopenTimer = undefined;
      if (this.#closed) return;
      this.#stream = this.#attach(this.#open());
    }, this.#reopenMs);
    this.#reopenTimer.unref();
    this.#reopenMs = Math.min(this.#reopenMs * 2, REOPEN_MAX_MS);
  }

  #drop(reason: string, n: number): void {
    this.#metrics?.dropped.labels(this.#sink, reason).inc(n);
    this.#droppedSinceLog += n;
    const now = Date.now();
    if (this.#logger && now - this.#lastLog >= LOG_INTERVAL_MS) {
      this.#logger.error(
        { ...this.#logContext, sink: this.#sink, reason, dropped: this.#droppedSinceLog },
        'audit events dropped',
      );
      this.#lastLog = now;
      this.#droppedSinceLog = 0;
    }
  }
}

function reasonOf(err: Error): string {
  return DISK_FULL.has((err as NodeJS.ErrnoException).code ?? '') ? 'disk_full' : 'file_error';
}
