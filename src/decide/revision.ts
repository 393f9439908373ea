/**
 * The policy revision that prefixes every cache key. Two sources:
 *  - OPA's bundle revisions, read from GET /v1/data/system/bundles (OPA keeps
 *    each activated bundle's manifest there) every `pollMs`;
 *  - an operator epoch in Redis: `<prefix>decisions:epoch`, announced on the
 *    channel `<prefix>decisions:invalidate` (docs/decision-cache.md gives the
 *    one-line EVAL that bumps and publishes it).
 * Because the revision is part of the key, a change makes every sidecar miss
 * its old entries in Redis at once; the in-process level is emptied too. A
 * failed poll keeps the last revision (OPA down is the breaker's business).
 */
import type { Logger } from '../observe/logger.ts';
import type { RedisLink } from './redis.ts';

export interface PolicyRevisionOptions {
  /** OPA base URL; undefined for the embedded evaluator (no bundle to follow). */
  opaUrl: string | undefined;
  pollMs: number;
  timeoutMs: number;
}

export interface PolicyRevision {
  /** The current revision string (part of every cache key). */
  readonly current: string;
  /**
   * The same for people: OPA's bundle revisions (`name=revision,…`), with
   * `epoch=<n>` when an operator epoch is set; null before OPA has answered.
   */
  readonly label: string | null;
  /** Reads OPA once now; resolves when done (never rejects). */
  refresh(): Promise<void>;
  close(): void;
}

export function bundleRevision(result: unknown): string {
  if (result === null || typeof result !== 'object') return '';
  const parts: string[] = [];
  for (const name of Object.keys(result).sort()) {
    const manifest = (result as Record<string, { manifest?: { revision?: unknown } }>)[name]?.manifest;
    parts.push(`${name}=${typeof manifest?.revision === 'string' ? manifest.revision : ''}`);
  }
  return parts.join(',');
}

export function createPolicyRevision(
  options: PolicyRevisionOptions,
  redis: RedisLink | undefined,
  onChange: (source: 'revision' | 'channel') => void,
  logger: Logger,
): PolicyRevision {
  let opaRevision = '';
  let epoch = '';
  let current = '|';
  let label: string | null = null;
  const update = (source: 'revision' | 'channel') => {
    const next = `${opaRevision}|${epoch}`;
    if (next === current) return;
    label = [opaRevision, epoch && `epoch=${epoch}`].filter(Boolean).join(',') || null;
    logger.info({ from: current, to: next, source }, 'policy revision changed; decision cache emptied');
    current = next;
    onChange(source);
  };

  const bundlesUrl = options.opaUrl
    ? new URL('v1/data/system/bundles', options.opaUrl.replace(/\/?$/, '/'))
    : undefined;
  async function refresh(): Promise<void> {
    if (!bundlesUrl) return;
    try {
      const res = await fetch(bundlesUrl, { signal: AbortSignal.timeout(options.timeoutMs) });
      const body = (await res.json()) as { result?: unknown };
      if (!res.ok) return;
      opaRevision = bundleRevision(body.result);
      update('revision');
    } catch {
      // Keep the last revision: cached decisions stay keyed as before.
    }
  }

  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  if (bundlesUrl && options.pollMs > 0) {
    timer = setInterval(() => {
      if (polling) return;
      polling = true;
      refresh().finally(() => {
        polling = false;
      });
    }, options.pollMs);
    timer.unref();
  }

  let sub: ReturnType<RedisLink['subscriber']> | undefined;
  if (redis) {
    const epochKey = `${redis.prefix}decisions:epoch`;
    const channel = `${redis.prefix}decisions:invalidate`;
    const readEpoch = () => {
      redis.client.get(epochKey).then(
        (v) => {
          epoch = v ?? '';
          update('channel');
        },
        () => {},
      );
    };
    // On every (re)connect: announcements may have been missed while down.
    redis.client.on('ready', readEpoch);
    if (redis.ready) readEpoch();
    sub = redis.subscriber();
    sub.subscribe(channel).catch(() => {});
    sub.on('message', (ch: string, message: string) => {
      if (ch !== channel) return;
      epoch = message;
      update('channel');
    });
  }

  return {
    get current() {
      return current;
    },
    get label() {
      return label;
    },
    refresh,
    close() {
      if (timer) clearInterval(timer);
    },
  };
}
