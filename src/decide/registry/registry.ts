/**
 * The MCP Gateway Registry client: reads every server the registry lists
 * (GET /v0.1/servers, cursor paged), each server's record
 * (GET /api/server_details/{path}) and tools (GET /api/servers/tools/{path}),
 * and swaps in a new snapshot for the hot path (view.ts). Off unless
 * gatewayEnabled; createRegistry returns undefined then, and nothing of it
 * runs or is registered.
 *
 * Refresh runs in the background every refreshIntervalMs, one at a time. The
 * data is a TTL cache: past cacheTtlMs without a successful refresh it is
 * stale, and still served. What a failure keeps (docs/registry.md):
 *   - the list fails (any page, after retries): the whole last good snapshot;
 *   - one server's record fails: that server's last good record and tools,
 *     or, never read before, the server with no visibility (shown to nobody);
 *   - one server's tools fail: its last good tools, or none known.
 * So a refresh never makes a server more open than the last good data did
 * because a call failed; only an answer from the registry changes it.
 */

import type { Registry as PromRegistry } from 'prom-client';
import type { SarkConfig } from '../../config/schema.ts';
import { ConfigError, SarkError } from '../../errors.ts';
import type { Logger } from '../../observe/logger.ts';
import { createRegistryMetrics, type RegistryMetrics } from '../../observe/metrics.ts';
import { mapLimit } from '../map-limit.ts';
import { callError, outcomeOf, RegistryHttp, type RegistryHttpOptions } from './http.ts';
import {
  type ListedServer,
  listedServers,
  nextCursor,
  type RegistryServer,
  type RegistryTool,
  serverIdOf,
  serverListPage,
  serverRecord,
  toolsAnswer,
  toRegistryServer,
  toRegistryTool,
  unreadServer,
} from './records.ts';
import { RegistrySnapshot, type RegistryView, SnapshotView } from './view.ts';

export interface RegistryOptions extends Omit<RegistryHttpOptions, 'connections'> {
  /** The protected server's SARK id and, when it differs from /<id>, its registry path. */
  readonly serverId: string;
  readonly serverPath: string | undefined;
  readonly refreshIntervalMs: number;
  readonly cacheTtlMs: number;
  readonly startupWaitMs: number;
  readonly pageSize: number;
  readonly concurrency: number;
  readonly now?: () => number;
  /** sark_registry_last_sync_timestamp_seconds (always registered): set on each successful read. */
  readonly lastSync?: { set(value: number): void } | undefined;
}

export type RefreshResult = 'ok' | 'partial' | 'failed';

/** What /readyz reports under `registry`. */
export interface RegistryStatus {
  /** fresh: read within cacheTtlMs; stale: older, still served; unavailable: never read. */
  readonly state: 'fresh' | 'stale' | 'unavailable';
  readonly age_seconds: number | null;
  readonly servers: number;
  readonly last_refresh: RefreshResult | null;
  /** The reason code and outcome of the last failure (e.g. registry_unavailable:timeout), null after a clean refresh. */
  readonly last_error: string | null;
  readonly consecutive_failures: number;
}

/** Pages followed at most in one refresh: a registry that never ends its cursor is malformed, not infinite. */
const MAX_PAGES = 10_000;

export class GatewayRegistry {
  readonly view: RegistryView;
  readonly #o: RegistryOptions;
  readonly #http: RegistryHttp;
  readonly #metrics: RegistryMetrics;
  readonly #logger: Logger;
  readonly #now: () => number;
  #snapshot: RegistrySnapshot | undefined;
  #inFlight: Promise<RefreshResult> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastResult: RefreshResult | null = null;
  #lastError: string | null = null;
  #failures = 0;

  constructor(options: RegistryOptions, metrics: RegistryMetrics, logger: Logger) {
    for (const k of ['refreshIntervalMs', 'cacheTtlMs', 'pageSize', 'concurrency'] as const) {
      if (!Number.isInteger(options[k]) || options[k] <= 0)
        throw new TypeError(`registry option ${k} must be a positive integer`);
    }
    if (!Number.isInteger(options.startupWaitMs) || options.startupWaitMs < 0) {
      throw new TypeError('registry option startupWaitMs must be a non-negative integer');
    }
    this.#o = options;
    this.#http = new RegistryHttp({ ...options, connections: options.concurrency }, metrics, logger);
    this.#metrics = metrics;
    this.#logger = logger;
    this.#now = options.now ?? Date.now;
    this.view = new SnapshotView(
      () => this.#snapshot,
      options.serverPath ? { serverId: options.serverId, path: options.serverPath } : undefined,
    );
    metrics.up.set(0);
    metrics.observeAge(() =>
      this.#snapshot ? (this.#now() - this.#snapshot.readAtMs) / 1000 : Number.POSITIVE_INFINITY,
    );
  }

  /**
   * Reads the registry once, waiting at most startupWaitMs (the read goes on
   * in the background past it), then refreshes every refreshIntervalMs.
   */
  async start(): Promise<void> {
    const first = this.refresh();
    if (this.#o.startupWaitMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([first, new Promise<void>((r) => (timer = setTimeout(r, this.#o.startupWaitMs)))]);
      clearTimeout(timer);
    }
    first.then(
      () => this.#schedule(),
      () => this.#schedule(),
    );
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.refresh().then(
        () => this.#schedule(),
        () => this.#schedule(),
      );
    }, this.#o.refreshIntervalMs);
    this.#timer.unref();
  }

  /** One refresh; a call while one runs joins it. Never rejects. */
  refresh(): Promise<RefreshResult> {
    this.#inFlight ??= this.#refresh().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #refresh(): Promise<RefreshResult> {
    let listed: ListedServer[];
    try {
      listed = await this.#list();
    } catch (err) {
      return this.#failed(err);
    }
    const previous = this.#snapshot;
    const problems: string[] = [];
    const servers = await mapLimit(listed, this.#o.concurrency, (l) => this.#readServer(l, previous, problems));
    if (this.#closed) return 'failed';
    this.#snapshot = new RegistrySnapshot(servers, this.#now());
    const result: RefreshResult = problems.length === 0 ? 'ok' : 'partial';
    this.#metrics.refreshes.labels(result).inc();
    this.#metrics.up.set(1);
    this.#metrics.servers.set(servers.length);
    this.#o.lastSync?.set(this.#now() / 1000);
    if (this.#failures > 0 || (result === 'partial' && this.#lastResult !== 'partial')) {
      this.#logger[result === 'ok' ? 'info' : 'warn'](
        { servers: servers.length, problems: problems.slice(0, 10), failuresBefore: this.#failures },
        result === 'ok' ? 'registry read again' : 'registry read with some servers kept from the last good data',
      );
    }
    this.#lastResult = result;
    this.#lastError = result === 'ok' ? null : problems[0]!;
    this.#failures = 0;
    return result;
  }

  #failed(err: unknown): RefreshResult {
    const e = err instanceof SarkError ? err : callError('network', String(err));
    this.#metrics.refreshes.labels('failed').inc();
    this.#metrics.up.set(0);
    this.#lastResult = 'failed';
    this.#lastError = `${e.kind.reason}:${outcomeOf(e)}`;
    // One line when the outage starts, then one every ten failed refreshes.
    if (this.#failures % 10 === 0) {
      this.#logger.warn(
        {
          err: e.message,
          failures: this.#failures + 1,
          serving: this.#snapshot ? 'last good data' : 'no registry data',
        },
        'registry refresh failed; the last good data stays in use',
      );
    }
    this.#failures++;
    return 'failed';
  }

  /** Every server of GET /v0.1/servers, following nextCursor. */
  async #list(): Promise<ListedServer[]> {
    const byId = new Map<string, ListedServer>();
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = `limit=${this.#o.pageSize}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const body = await this.#http.getJson('servers', `/v0.1/servers?${query}`);
      const parsed = serverListPage.safeParse(body);
      if (!parsed.success) throw callError('malformed', `GET /v0.1/servers: ${parsed.error.issues[0]?.message}`);
      for (const s of listedServers(parsed.data).servers)
        if (!byId.has(serverIdOf(s.path))) byId.set(serverIdOf(s.path), s);
      cursor = nextCursor(parsed.data);
      if (cursor === undefined) return [...byId.values()];
      if (seen.has(cursor)) throw callError('malformed', `GET /v0.1/servers: the cursor ${cursor} came back twice`);
      seen.add(cursor);
    }
    throw callError('malformed', `GET /v0.1/servers: more than ${MAX_PAGES} pages`);
  }

  async #readServer(
    listed: ListedServer,
    previous: RegistrySnapshot | undefined,
    problems: string[],
  ): Promise<RegistryServer> {
    const id = serverIdOf(listed.path);
    const before = previous?.server(id);
    const path = encodePath(listed.path);
    let record: ReturnType<typeof serverRecord.parse>;
    try {
      const parsed = serverRecord.safeParse(await this.#http.getJson('server_details', `/api/server_details${path}`));
      if (!parsed.success)
        throw callError('malformed', `server_details ${listed.path}: ${parsed.error.issues[0]?.message}`);
      if (serverIdOf(parsed.data.path) !== id) {
        throw callError('malformed', `server_details ${listed.path}: the record is for ${parsed.data.path}`);
      }
      record = parsed.data;
    } catch (err) {
      problems.push(`${id}: record ${problemOf(err)}`);
      return before ?? unreadServer(listed, null);
    }
    const enabled = record.is_enabled ?? listed.enabled;
    let tools: readonly RegistryTool[] | null = before?.tools ?? null;
    // The registry refuses to list a disabled server's tools (HTTP 400); keep what was known.
    if (enabled !== false) {
      try {
        const parsed = toolsAnswer.safeParse(await this.#http.getJson('tools', `/api/servers/tools${path}`));
        if (!parsed.success) throw callError('malformed', `tools ${listed.path}: ${parsed.error.issues[0]?.message}`);
        tools = parsed.data.tools.map(toRegistryTool);
      } catch (err) {
        problems.push(`${id}: tools ${problemOf(err)}`);
      }
    }
    return toRegistryServer(record, listed, tools);
  }

  status(): RegistryStatus {
    const snap = this.#snapshot;
    const age = snap ? Math.max(0, (this.#now() - snap.readAtMs) / 1000) : null;
    return {
      state: !snap ? 'unavailable' : age! * 1000 > this.#o.cacheTtlMs ? 'stale' : 'fresh',
      age_seconds: age === null ? null : Math.round(age * 10) / 10,
      servers: snap?.servers.length ?? 0,
      last_refresh: this.#lastResult,
      last_error: this.#lastError,
      consecutive_failures: this.#failures,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#inFlight?.catch(() => undefined);
    await this.#http.close();
  }
}

function problemOf(err: unknown): string {
  return err instanceof SarkError ? `${err.kind.reason}:${outcomeOf(err)}` : 'registry_unavailable:network';
}

/** A registry path as URL path segments, each percent-encoded, its slashes (leading and trailing) kept. */
function encodePath(path: string): string {
  return (path.startsWith('/') ? path : `/${path}`)
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}

/**
 * The registry client for this config, or undefined when gatewayEnabled is
 * off. Validates at start-up: enabled needs gatewayUrl.
 */
export function createRegistry(
  config: SarkConfig,
  prom: PromRegistry,
  logger: Logger,
  overrides: Pick<RegistryOptions, 'random' | 'sleep' | 'now' | 'lastSync'> = {},
): GatewayRegistry | undefined {
  if (!config.gatewayEnabled) return undefined;
  if (!config.gatewayUrl) {
    throw new ConfigError(
      'gatewayUrl (--gateway-url / SARK_GATEWAY_URL / GATEWAY_URL) is required when gatewayEnabled is true',
    );
  }
  return new GatewayRegistry(
    {
      url: config.gatewayUrl,
      apiKey: config.gatewayApiKey,
      serverId: config.serverId,
      serverPath: config.gatewayServerPath,
      timeoutMs: config.gatewayTimeoutMs,
      retries: config.gatewayRetries,
      retryBaseMs: config.gatewayRetryBaseMs,
      retryMaxMs: config.gatewayRetryMaxMs,
      maxResponseBytes: config.gatewayMaxResponseBytes,
      breakerResetMs: config.gatewayBreakerResetMs,
      refreshIntervalMs: config.gatewayRefreshIntervalMs,
      cacheTtlMs: config.gatewayCacheTtlMs,
      startupWaitMs: config.gatewayStartupWaitMs,
      pageSize: config.gatewayPageSize,
      concurrency: config.gatewayConcurrency,
      ...overrides,
    },
    createRegistryMetrics(prom),
    logger,
  );
}
