/**
 * The Redis link behind the decision cache and the rate-limit buckets.
 * Redis is an accelerator, never a dependency: commands are not queued while
 * the link is down (they fail at once), every command a request waits for is
 * raced against a small budget, and the client reconnects on its own with
 * capped exponential backoff. Standalone, Sentinel and Cluster are built from
 * the same options.
 */
import { Cluster, Redis } from 'ioredis';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { DecideMetrics } from '../observe/metrics.ts';

export interface RedisLinkOptions {
  mode: 'standalone' | 'sentinel' | 'cluster';
  url: string | undefined;
  nodes: string | undefined;
  sentinelName: string;
  keyPrefix: string;
  budgetMs: number;
}

export type RedisClient = Redis | Cluster;

export interface RedisLink {
  readonly client: RedisClient;
  readonly prefix: string;
  /** True while commands can be sent; when false, callers skip Redis at once. */
  readonly ready: boolean;
  /**
   * Resolves with the command's result, or with `undefined` when Redis failed
   * or did not answer within the budget (counted under `op`).
   */
  within<T>(op: string, command: () => Promise<T>): Promise<T | undefined>;
  /** Fire and forget: a failure is counted, never awaited by a request. */
  background(op: string, command: () => Promise<unknown>): void;
  /** A second connection in subscriber mode (pub/sub needs its own). */
  subscriber(): RedisClient;
  close(): Promise<void>;
}

const TIMED_OUT = /command timed out/i;

/** Reconnect backoff: 50 ms doubling to 2 s, forever. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2_000);
}

function parseNodes(nodes: string): { host: string; port: number }[] {
  return nodes.split(',').map((n) => {
    const i = n.lastIndexOf(':');
    return { host: n.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(n.slice(i + 1)) };
  });
}

function credentials(url: string | undefined): { username?: string; password?: string; db?: number; tls?: object } {
  if (!url) return {};
  const u = new URL(url);
  const out: { username?: string; password?: string; db?: number; tls?: object } = {};
  if (u.username) out.username = decodeURIComponent(u.username);
  if (u.password) out.password = decodeURIComponent(u.password);
  const db = u.pathname.replace(/^\//, '');
  if (db) out.db = Number(db);
  if (u.protocol === 'rediss:') out.tls = {};
  return out;
}

/** Returns undefined when no Redis is configured. Throws ConfigError at start-up on inconsistent options. */
export function createRedisLink(
  options: RedisLinkOptions,
  metrics: DecideMetrics,
  logger: Logger,
): RedisLink | undefined {
  const { mode, url, nodes, budgetMs } = options;
  if (mode === 'standalone' && !url) {
    if (nodes)
      throw new ConfigError('redisNodes is set but redisMode is standalone: set redisMode to sentinel or cluster');
    return undefined;
  }
  if (mode !== 'standalone' && !nodes) throw new ConfigError(`redisMode ${mode} needs redisNodes (host:port,…)`);

  const common = {
    // A command sent while the link is down fails at once instead of waiting
    // in a queue: the request goes on without Redis.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    lazyConnect: false,
    // The per-request budget, enforced by ioredis itself: a command not
    // answered within it rejects ("Command timed out"), with no timer of ours.
    commandTimeout: budgetMs,
  };
  const make = (): RedisClient => {
    if (mode === 'cluster') {
      const { db: _db, ...auth } = credentials(url);
      return new Cluster(parseNodes(nodes!), {
        enableOfflineQueue: false,
        clusterRetryStrategy: (times) => reconnectDelayMs(times),
        redisOptions: { ...auth, maxRetriesPerRequest: 0, connectTimeout: 2_000, commandTimeout: budgetMs },
      });
    }
    if (mode === 'sentinel') {
      return new Redis({
        ...common,
        ...credentials(url),
        sentinels: parseNodes(nodes!),
        name: options.sentinelName,
        retryStrategy: (times) => reconnectDelayMs(times),
        sentinelRetryStrategy: (times) => reconnectDelayMs(times),
      });
    }
    return new Redis(url!, { ...common, retryStrategy: (times) => reconnectDelayMs(times) });
  };

  const client = make();
  let ready = false;
  let lastLogged: 'up' | 'down' | undefined;
  const onReady = () => {
    ready = true;
    metrics.redisUp.set(1);
    if (lastLogged !== 'up') logger.info({ mode }, 'redis link ready');
    lastLogged = 'up';
  };
  const onDown = (err?: Error) => {
    ready = false;
    metrics.redisUp.set(0);
    // One line per outage, not one per reconnect attempt.
    if (lastLogged !== 'down') logger.warn({ mode, err: err?.message }, 'redis link down; going on without it');
    lastLogged = 'down';
  };
  client.on('ready', onReady);
  client.on('close', () => onDown());
  client.on('end', () => onDown());
  client.on('error', (err: Error) => {
    metrics.redisErrors.labels('connection').inc();
    onDown(err);
  });
  metrics.redisUp.set(0);

  const subscribers: RedisClient[] = [];

  return {
    client,
    prefix: options.keyPrefix,
    get ready() {
      return ready;
    },
    within<T>(op: string, command: () => Promise<T>): Promise<T | undefined> {
      if (!ready) return Promise.resolve(undefined);
      return command().catch((err: Error) => {
        metrics.redisErrors.labels(TIMED_OUT.test(err?.message ?? '') ? `${op}_budget` : op).inc();
        return undefined;
      });
    },
    background(op, command) {
      if (!ready) return;
      command().catch(() => metrics.redisErrors.labels(op).inc());
    },
    subscriber() {
      const sub =
        client instanceof Cluster
          ? client.duplicate()
          : client.duplicate({ enableOfflineQueue: true, commandTimeout: undefined });
      sub.on('error', () => metrics.redisErrors.labels('subscribe').inc());
      subscribers.push(sub);
      return sub;
    },
    async close() {
      for (const c of [...subscribers, client]) c.disconnect(false);
    },
  };
}
