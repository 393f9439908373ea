/**
 * One delivery channel per remote sink: a bounded in-memory queue, a batcher
 * (a batch leaves when `batchSize` events wait or every `flushIntervalMs`), and
 * the sink's own spool. One loop per channel sends batches one at a time, so
 * delivery order is queue order:
 *
 *   record → queue ─(sink up, spool empty)→ sink
 *                  └(sink down/slow, or spool not empty)→ spool → replay → sink
 *
 * While the spool holds anything, new batches go behind it, so replay keeps
 * the order events were decided in. A failed or timed-out batch is spilled
 * and the sink is retried with exponential backoff (with jitter) by replaying
 * the spool. Delivery is at-least-once: a batch whose acknowledgement was lost
 * is sent again, and the sinks de-duplicate on request id.
 *
 * Each event is encoded for its sink (`sink.encode`) when it is recorded, and
 * the queue and spool hold that text: the event object then dies young
 * instead of waiting a flush interval in the heap (measured: that retention
 * was the largest share of what auditing cost a request, in the collector),
 * and a batch needs no encoding when it leaves.
 *
 * Each queued and spooled event keeps its event time (`ts_ms`) beside its
 * text, so that `sark_audit_delay_seconds` can say how late each event
 * reached its sink — a flush interval when all is well, hours after an
 * outage — whether it went live or through the spool.
 *
 * Back-pressure (docs/audit.md): nothing ever waits on the request path.
 * Events are dropped only when the memory queue is full (`queue_full`: the
 * loop could not even spill fast enough) or when the spool is at its size cap
 * (`spool_full`: the batch being spilled is dropped, older evidence is kept).
 * Every drop is counted in sark_audit_events_dropped_total and logged at
 * error level, at most once per `dropLogIntervalMs` with the running count.
 */
import type { Logger } from '../observe/logger.ts';
import type { AuditMetrics } from '../observe/metrics.ts';
import type { AuditEvent } from './event.ts';
import type { AuditSpool } from './spool.ts';

export interface AuditSink {
  /** Metric label and log name: clickhouse, splunk, datadog. */
  readonly name: string;
  /** The most events one `send` may carry (an intake's payload limit); unset: auditBatchSize decides. */
  readonly maxBatch?: number;
  /** The event as this sink's wire text for one event (no newline); called on the request path, so cheap. */
  encode(event: AuditEvent): string;
  /** Delivers the whole batch of encoded events or throws; must honour `signal`. */
  send(lines: readonly string[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the spool holds: `[ts_ms, text]`; spools written by older versions
 * hold the bare text (no event time: not in the delay histogram) or event
 * objects (re-encoded on replay).
 */
export type SpooledEvent = readonly [number, string] | string | AuditEvent;

export interface ChannelOptions {
  readonly sink: AuditSink;
  readonly spool: AuditSpool<SpooledEvent>;
  readonly metrics: AuditMetrics;
  readonly logger: Logger;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly maxQueueEvents: number;
  readonly sendTimeoutMs: number;
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  readonly dropLogIntervalMs?: number;
}

type DropReason = 'queue_full' | 'spool_full' | 'spool_error' | 'corrupt_line' | 'closed' | 'encode_error';

export class AuditChannel {
  readonly #o: ChannelOptions;
  readonly #sink: AuditSink;
  readonly #spool: AuditSpool<SpooledEvent>;
  readonly #m: {
    queued: { inc(n?: number): void };
    sent: { inc(n?: number): void };
    spilled: { inc(n?: number): void };
    replayed: { inc(n?: number): void };
    errors: { inc(n?: number): void };
    batch: { observe(v: number): void };
    depth: { set(v: number): void };
    spoolBytes: { set(v: number): void };
    delay: { observe(v: number): void };
  };
  readonly #queue = new EventQueue();
  #running: Promise<void> | undefined;
  #flushDue = false;
  #down = false;
  #backoffMs: number;
  #retry: NodeJS.Timeout | undefined;
  readonly #timer: NodeJS.Timeout;
  #closing = false;
  #closed = false;
  readonly #abort = new AbortController();
  readonly #drops = new Map<DropReason, number>();
  #dropLoggedAt = 0;

  constructor(options: ChannelOptions) {
    this.#o = options;
    this.#sink = options.sink;
    this.#spool = options.spool;
    const sink = options.sink.name;
    const m = options.metrics;
    this.#m = {
      queued: m.queued.labels(sink),
      sent: m.sent.labels(sink),
      spilled: m.spilled.labels(sink),
      replayed: m.replayed.labels(sink),
      errors: m.sinkErrors.labels(sink),
      batch: m.batchSeconds.labels(sink),
      depth: m.queueDepth.labels(sink),
      spoolBytes: m.spoolBytes.labels(sink),
      delay: m.delaySeconds.labels(sink),
    };
    this.#m.spoolBytes.set(this.#spool.bytes);
    m.spoolMaxBytes.labels(sink).set(this.#spool.maxBytes);
    this.#backoffMs = options.backoffMinMs ?? 250;
    this.#timer = setInterval(() => {
      this.#flushDue = true;
      this.#kick();
    }, options.flushIntervalMs);
    this.#timer.unref();
    // A backlog left by a previous run is replayed from the start.
    if (this.#spool.pending) this.#kick();
  }

  get name(): string {
    return this.#sink.name;
  }

  /** Enqueues one event. Synchronous, never throws, never waits. */
  record(event: AuditEvent): void {
    if (this.#closed) {
      this.#drop('closed', 1);
      return;
    }
    if (this.#queue.length >= this.#o.maxQueueEvents) {
      this.#drop('queue_full', 1);
      return;
    }
    const line = this.#encode(event);
    if (line === undefined) return;
    this.#queue.push(line, event.ts_ms);
    this.#m.queued.inc();
    if (this.#queue.length >= this.#o.batchSize) this.#kick();
  }

  /** Resolves once the queue is empty and the spool fully replayed (tests and benchmarks). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#queue.length === 0 && !this.#spool.pending && !this.#running) return true;
      this.#flushDue = true;
      this.#kick();
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  }

  /**
   * Flushes what is in memory to the sink, or to the spool when the sink is
   * down or `graceMs` runs out (the in-flight batch is then aborted and
   * spilled). The spool's backlog stays on disk for the next start.
   */
  async close(graceMs: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#timer);
    clearTimeout(this.#retry);
    const timer = setTimeout(() => this.#abort.abort(new Error('audit close grace period over')), graceMs);
    try {
      await this.#running;
      this.#flushDue = true;
      this.#kick();
      await this.#running;
      if (this.#queue.length > 0) await this.#spillQueue();
    } finally {
      clearTimeout(timer);
      this.#closed = true;
      this.#m.depth.set(0);
      await this.#spool
        .close()
        .catch((err) => this.#o.logger.error({ err, sink: this.name }, 'audit spool close failed'));
      await this.#sink.close().catch(() => {});
    }
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = this.#run()
      .catch((err) => this.#o.logger.error({ err, sink: this.name }, 'audit channel loop failed'))
      .finally(() => {
        this.#running = undefined;
        this.#m.depth.set(this.#queue.length);
        if (!this.#closing && !this.#down && this.#queue.length >= this.#o.batchSize) this.#kick();
      });
  }

  async #run(): Promise<void> {
    const batchSize = this.#o.batchSize;
    while (true) {
      const stopped = this.#abort.signal.aborted;
      if (this.#down || stopped || (this.#closing && this.#spool.pending)) {
        // Sink unusable (or backlog kept for the next start): memory goes to the spool.
        if (this.#queue.length > 0) await this.#spillQueue();
        return;
      }
      if (this.#spool.pending) {
        if (this.#queue.length > 0) await this.#spillQueue();
        await this.#replayOne();
        continue;
      }
      if (this.#queue.length === 0) {
        this.#flushDue = false;
        return;
      }
      if (this.#queue.length < batchSize && !this.#flushDue && !this.#closing) return;
      const batch = this.#queue.take(batchSize);
      // The due flush is served once what waited is taken; events recorded
      // while this batch is in flight wait for the next tick or a full batch.
      // (Clearing it only on an empty queue sent back-to-back small batches
      // under steady load: an insert per round trip, each one costing
      // ClickHouse a part.)
      if (this.#queue.length === 0) this.#flushDue = false;
      this.#m.depth.set(this.#queue.length);
      if (await this.#send(batch.lines)) {
        this.#m.sent.inc(batch.lines.length);
        this.#delays(batch.times);
      } else {
        await this.#spill(batch);
      }
    }
  }

  async #replayOne(): Promise<void> {
    let batch: Awaited<ReturnType<AuditSpool<SpooledEvent>['read']>>;
    try {
      batch = await this.#spool.read(this.#o.batchSize);
    } catch (err) {
      this.#o.logger.error({ err, sink: this.name }, 'audit spool read failed');
      this.#markDown();
      return;
    }
    if (!batch) return;
    if (batch.corrupt > 0) this.#drop('corrupt_line', batch.corrupt);
    const lines: string[] = [];
    const times: number[] = [];
    for (const item of batch.items) {
      if (typeof item === 'string') {
        lines.push(item);
      } else if (Array.isArray(item)) {
        lines.push(item[1]);
        times.push(item[0]);
      } else {
        const event = item as AuditEvent;
        const line = this.#encode(event);
        if (line === undefined) continue;
        lines.push(line);
        times.push(event.ts_ms);
      }
    }
    if (lines.length > 0 && !(await this.#send(lines))) return;
    await this.#spool.ack(batch);
    this.#m.sent.inc(batch.items.length);
    this.#m.replayed.inc(batch.items.length);
    this.#m.spoolBytes.set(this.#spool.bytes);
    this.#delays(times);
  }

  async #send(lines: readonly string[]): Promise<boolean> {
    const started = performance.now();
    try {
      await this.#sink.send(lines, AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#o.sendTimeoutMs)]));
      this.#m.batch.observe((performance.now() - started) / 1000);
      this.#backoffMs = this.#o.backoffMinMs ?? 250;
      return true;
    } catch (err) {
      this.#m.errors.inc();
      if (!this.#down && !this.#abort.signal.aborted) {
        this.#o.logger.warn({ err, sink: this.name, events: lines.length }, 'audit sink failed; spooling and retrying');
      }
      this.#markDown();
      return false;
    }
  }

  /** Event time → acknowledgement, one observation per event (a batch is acknowledged at one instant). */
  #delays(times: readonly number[]): void {
    const now = Date.now();
    const delay = this.#m.delay;
    for (const t of times) delay.observe(Math.max(0, now - t) / 1000);
  }

  /** Moves the whole memory queue to the spool, one batch per append. */
  async #spillQueue(): Promise<void> {
    while (this.#queue.length > 0) await this.#spill(this.#queue.take(this.#o.batchSize));
  }

  async #spill(batch: QueuedBatch): Promise<void> {
    const n = batch.lines.length;
    if (n === 0) return;
    this.#m.depth.set(this.#queue.length);
    const items: SpooledEvent[] = new Array(n);
    for (let i = 0; i < n; i++) items[i] = [batch.times[i]!, batch.lines[i]!];
    try {
      if (await this.#spool.append(items)) {
        this.#m.spilled.inc(n);
        this.#m.spoolBytes.set(this.#spool.bytes);
      } else {
        this.#drop('spool_full', n);
      }
    } catch (err) {
      this.#o.logger.error({ err, sink: this.name }, 'audit spool write failed');
      this.#drop('spool_error', n);
    }
  }

  /** The sink's text for `event`, or undefined (dropped and counted) if the sink cannot encode it. */
  #encode(event: AuditEvent): string | undefined {
    try {
      return this.#sink.encode(event);
    } catch {
      this.#drop('encode_error', 1);
      return undefined;
    }
  }

  #markDown(): void {
    this.#down = true;
    if (this.#closing || this.#retry) return;
    const wait = this.#backoffMs * (0.5 + Math.random() / 2);
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#o.backoffMaxMs ?? 30_000);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#down = false;
      this.#kick();
    }, wait);
    this.#retry.unref();
  }

  #drop(reason: DropReason, n: number): void {
    this.#o.metrics.dropped.labels(this.name, reason).inc(n);
    this.#drops.set(reason, (this.#drops.get(reason) ?? 0) + n);
    const now = Date.now();
    if (now - this.#dropLoggedAt >= (this.#o.dropLogIntervalMs ?? 10_000)) {
      this.#dropLoggedAt = now;
      this.#o.logger.error(
        { sink: this.name, dropped: Object.fromEntries(this.#drops) },
        'audit events dropped (counts since start); see sark_audit_events_dropped_total',
      );
    }
  }
}

interface QueuedBatch {
  readonly lines: string[];
  /** Event times (ms), index for index with `lines`. */
  readonly times: number[];
}

/** FIFO of encoded events and their times, with O(1) amortised take from the front (Array#splice(0, n) is O(length)). */
class EventQueue {
  #items: string[] = [];
  #times: number[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(line: string, time: number): void {
    this.#items.push(line);
    this.#times.push(time);
  }

  take(n: number): QueuedBatch {
    const end = this.#head + n;
    const lines = this.#items.slice(this.#head, end);
    const times = this.#times.slice(this.#head, end);
    this.#head += lines.length;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#times = [];
      this.#head = 0;
    } else if (this.#head >= 4096 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    return { lines, times };
  }
}
