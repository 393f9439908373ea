/**
 * The audit spool: a local, append-only, size-capped queue of NDJSON segments
 * (`000000000001.ndjson`, …) that holds batches a sink could not take. Batches
 * are read back in the order they were written and a segment is deleted once
 * every line of it is acknowledged; `cursor.json` remembers how far the oldest
 * segment was acknowledged, so a restart replays at most one batch twice
 * (the sinks de-duplicate on request id).
 *
 * A crash can leave a torn last line; it is skipped and counted, never parsed
 * into a partial event. Every operation runs on one promise chain, so the
 * fsync timer, appends and reads never interleave on a file handle.
 */
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface SpoolOptions {
  readonly dir: string;
  /** Cap on the bytes of all segments; an append past it is refused. */
  readonly maxBytes: number;
  /** A segment is sealed once it grows past this size. */
  readonly segmentBytes?: number;
  /** always: fsync after every append; interval: at most every `fsyncIntervalMs`; never: leave it to the OS. */
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs?: number;
}

export interface SpoolBatch<T> {
  readonly segment: number;
  readonly from: number;
  readonly to: number;
  readonly items: readonly T[];
  /** Lines that were not valid JSON (torn writes); they are skipped. */
  readonly corrupt: number;
}

const SEGMENT = /^(\d{12})\.ndjson$/;
const name = (seq: number) => `${String(seq).padStart(12, '0')}.ndjson`;

interface Reading {
  readonly seq: number;
  readonly lines: readonly string[];
  readonly size: number;
  next: number;
}

export class AuditSpool<T = unknown> {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #segmentBytes: number;
  readonly #fsync: FsyncPolicy;
  /** Sealed and head segments, oldest first, with their sizes. */
  readonly #segments: { seq: number; size: number }[];
  #bytes: number;
  #head: { seq: number; fh: FileHandle } | undefined;
  #dirty = false;
  #reading: Reading | undefined;
  #cursor: { seq: number; line: number } | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(
    options: SpoolOptions,
    segments: { seq: number; size: number }[],
    cursor: Reading['seq'] | undefined,
    line: number,
  ) {
    this.#dir = options.dir;
    this.#maxBytes = options.maxBytes;
    this.#segmentBytes = options.segmentBytes ?? 8 * 1024 * 1024;
    this.#fsync = options.fsync;
    this.#segments = segments;
    this.#bytes = segments.reduce((n, s) => n + s.size, 0);
    if (cursor !== undefined) this.#cursor = { seq: cursor, line };
    if (options.fsync === 'interval') {
      this.#timer = setInterval(() => {
        if (this.#dirty) this.#enqueue(() => this.#sync()).catch(() => {});
      }, options.fsyncIntervalMs ?? 1000);
      this.#timer.unref();
    }
  }

  /** Opens (creating) the spool directory and picks up segments left by a previous run. */
  static async open<T>(options: SpoolOptions): Promise<AuditSpool<T>> {
    await mkdir(options.dir, { recursive: true });
    const segments: { seq: number; size: number }[] = [];
    for (const file of (await readdir(options.dir)).sort()) {
      const m = SEGMENT.exec(file);
      if (m) segments.push({ seq: Number(m[1]), size: (await stat(join(options.dir, file))).size });
    }
    let cursor: number | undefined;
    let line = 0;
    try {
      const c = JSON.parse(await readFile(join(options.dir, 'cursor.json'), 'utf8')) as {
        segment: number;
        line: number;
      };
      if (Number.isInteger(c.segment) && Number.isInteger(c.line)) {
        cursor = c.segment;
        line = c.line;
      }
    } catch {}
    return new AuditSpool<T>(options, segments, cursor, line);
  }

  /** The size cap (SpoolOptions.maxBytes). */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Bytes held by all segments (acknowledged lines of the oldest included until it is deleted). */
  get bytes(): number {
    return this.#bytes;
  }

  /** True while any batch waits to be replayed. */
  get pending(): boolean {
    return this.#segments.length > 0;
  }

  /** Appends items as NDJSON lines; resolves false (nothing written) when the size cap would be passed. */
  append(items: readonly T[]): Promise<boolean> {
    return this.#enqueue(async () => {
      if (this.#closed) throw new Error('the audit spool is closed');
      let text = '';
      for (const item of items) text += `${JSON.stringify(item)}\n`;
      const size = Buffer.byteLength(text);
      if (this.#bytes + size > this.#maxBytes) return false;
      if (!this.#head) {
        const seq = (this.#segments.at(-1)?.seq ?? this.#cursor?.seq ?? 0) + 1;
        this.#head = { seq, fh: await open(join(this.#dir, name(seq)), 'a') };
        this.#segments.push({ seq, size: 0 });
      }
      await this.#head.fh.write(text);
      const seg = this.#segments.at(-1)!;
      seg.size += size;
      this.#bytes += size;
      this.#dirty = true;
      if (this.#fsync === 'always') await this.#sync();
      if (seg.size >= this.#segmentBytes) await this.#seal();
      return true;
    });
  }

  /** The oldest unacknowledged lines, at most `max`; the same batch again until it is acknowledged. */
  read(max: number): Promise<SpoolBatch<T> | undefined> {
    return this.#enqueue(async () => {
      while (true) {
        if (!this.#reading) {
          const oldest = this.#segments[0];
          if (!oldest) return undefined;
          // Never read the segment being written: seal it so appends start a new one.
          if (this.#head?.seq === oldest.seq) await this.#seal();
          const text = await readFile(join(this.#dir, name(oldest.seq)), 'utf8');
          const lines = text.split('\n');
          lines.pop(); // after the last newline: '' or a torn line, never a whole event
          const start = this.#cursor?.seq === oldest.seq ? Math.min(this.#cursor.line, lines.length) : 0;
          this.#reading = { seq: oldest.seq, lines, size: oldest.size, next: start };
        }
        const r = this.#reading;
        if (r.next >= r.lines.length) {
          await this.#dropOldest();
          continue;
        }
        const to = Math.min(r.next + max, r.lines.length);
        const items: T[] = [];
        let corrupt = 0;
        for (let i = r.next; i < to; i++) {
          try {
            items.push(JSON.parse(r.lines[i]!) as T);
          } catch {
            corrupt++;
          }
        }
        return { segment: r.seq, from: r.next, to, items, corrupt };
      }
    });
  }

  /** Marks a batch from `read` delivered; a fully delivered segment is deleted. */
  ack(batch: SpoolBatch<T>): Promise<void> {
    return this.#enqueue(async () => {
      const r = this.#reading;
      if (!r || r.seq !== batch.segment || r.next !== batch.from) return;
      r.next = batch.to;
      if (r.next >= r.lines.length) {
        await this.#dropOldest();
        return;
      }
      this.#cursor = { seq: r.seq, line: r.next };
      // Write-then-rename so a crash leaves the old or the new cursor, never half of one.
      const tmp = join(this.#dir, 'cursor.json.tmp');
      await writeFile(tmp, JSON.stringify({ segment: r.seq, line: r.next }));
      await rename(tmp, join(this.#dir, 'cursor.json'));
    });
  }

  /** Syncs and closes the head segment; the spool keeps its files for the next open. */
  close(): Promise<void> {
    clearInterval(this.#timer);
    return this.#enqueue(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await this.#seal();
    });
  }

  async #dropOldest(): Promise<void> {
    const r = this.#reading;
    this.#reading = undefined;
    const oldest = this.#segments.shift();
    if (!oldest) return;
    this.#bytes -= oldest.size;
    await unlink(join(this.#dir, name(oldest.seq))).catch(() => {});
    if (r) this.#cursor = { seq: r.seq + 1, line: 0 };
    await unlink(join(this.#dir, 'cursor.json')).catch(() => {});
  }

  async #seal(): Promise<void> {
    const head = this.#head;
    if (!head) return;
    this.#head = undefined;
    if (this.#fsync !== 'never' && this.#dirty) await head.fh.sync();
    this.#dirty = false;
    await head.fh.close();
  }

  async #sync(): Promise<void> {
    if (!this.#head || !this.#dirty) return;
    this.#dirty = false;
    await this.#head.fh.sync();
  }

  #enqueue<R>(op: () => Promise<R>): Promise<R> {
    const run = this.#chain.then(op, op);
    this.#chain = run.catch(() => {});
    return run;
  }
}
