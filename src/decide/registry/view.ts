/**
 * The registry data as the hot path reads it: one immutable snapshot per
 * successful refresh, swapped in whole, read synchronously (no network I/O
 * per request). The policy input facts (input.server.registry,
 * input.tool.registry, input.registry) are built once per snapshot and
 * frozen, so a decision costs a map lookup.
 *
 * Until the first successful read there is no snapshot: every server's facts
 * say `available: false`, and a policy that requires registry facts denies.
 * After that a failed refresh never replaces the snapshot: the last good
 * data keeps serving however old it gets (docs/registry.md).
 */
import type { RegistryServer, RegistryTool } from './records.ts';

/** input.server.registry (opa/schemas/input.schema.json). */
export type ServerFacts =
  | { readonly available: false; readonly listed: false }
  | { readonly available: true; readonly listed: false }
  | {
      readonly available: true;
      readonly listed: true;
      readonly path: string;
      readonly name: string;
      readonly owner: string | null;
      readonly owner_team: string | null;
      readonly registered_by: string | null;
      readonly sensitivity: readonly string[];
      readonly tags: readonly string[];
      readonly visibility: string | null;
      readonly allowed_groups: readonly string[];
      readonly enabled: boolean | null;
      readonly lifecycle: string | null;
      readonly tools_known: boolean;
      /** Only in listingFacts and serverListFacts: every listed tool's facts, by name. */
      readonly tools?: Readonly<Record<string, ToolFacts>>;
    };

/** input.tool.registry. */
export type ToolFacts =
  | { readonly listed: false }
  | { readonly listed: true; readonly sensitivity: readonly string[]; readonly tags: readonly string[] };

/** input.registry, for gateway:server:list: the facts of every listed server, by server id. */
export interface ServerListFacts {
  readonly available: boolean;
  readonly servers: Readonly<Record<string, ServerFacts>>;
}

/** The synchronous read API the decide stage and the decision API use. */
export interface RegistryView {
  /** Every server in the data in use, sorted by id (empty before the first read). */
  servers(): readonly RegistryServer[];
  /** One server by SARK id (its registry path without slashes); a path is accepted too. */
  server(id: string): RegistryServer | undefined;
  /** The server's tools; undefined when the server is unknown or its tools could not be listed. */
  tools(serverId: string): readonly RegistryTool[] | undefined;
  /** input.server.registry for this server id. */
  serverFacts(serverId: string): ServerFacts;
  /** input.server.registry for tools/list: the server's facts with every listed tool's. */
  listingFacts(serverId: string): ServerFacts;
  /** input.tool.registry for this tool of this server. */
  toolFacts(serverId: string, tool: string): ToolFacts;
  /** input.registry: every server's listing facts (for the server list). */
  serverListFacts(): ServerListFacts;
}

const NOT_AVAILABLE: ServerFacts = Object.freeze({ available: false, listed: false });
const UNLISTED: ServerFacts = Object.freeze({ available: true, listed: false });
const TOOL_UNLISTED: ToolFacts = Object.freeze({ listed: false });
const NO_SERVER_LIST: ServerListFacts = Object.freeze({ available: false, servers: Object.freeze({}) });

function serverFactsOf(s: RegistryServer): ServerFacts {
  return Object.freeze({
    available: true,
    listed: true,
    path: s.path,
    name: s.name,
    owner: s.owner,
    owner_team: s.ownerTeam,
    registered_by: s.registeredBy,
    sensitivity: Object.freeze([...s.sensitivity]),
    tags: Object.freeze([...s.tags]),
    visibility: s.visibility,
    allowed_groups: Object.freeze([...s.allowedGroups]),
    enabled: s.enabled,
    lifecycle: s.lifecycle,
    tools_known: s.tools !== null,
  });
}

function toolFactsOf(t: RegistryTool): ToolFacts {
  return Object.freeze({
    listed: true,
    sensitivity: Object.freeze([...t.sensitivity]),
    tags: Object.freeze([...t.tags]),
  });
}

/** The key a server is found under: its id, whether asked by id or by path. */
function keyOf(idOrPath: string): string {
  return idOrPath.replace(/^\/+|\/+$/g, '');
}

/** One successful read of the registry. Immutable. */
export class RegistrySnapshot {
  readonly readAtMs: number;
  readonly #servers: readonly RegistryServer[];
  readonly #byId: ReadonlyMap<string, RegistryServer>;
  readonly #facts: ReadonlyMap<string, ServerFacts>;
  readonly #listing: ReadonlyMap<string, ServerFacts>;
  readonly #toolFacts: ReadonlyMap<string, ReadonlyMap<string, ToolFacts>>;
  readonly catalogue: ServerListFacts;

  constructor(servers: readonly RegistryServer[], readAtMs: number) {
    this.readAtMs = readAtMs;
    const sorted = [...servers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.#servers = Object.freeze(sorted);
    const byId = new Map<string, RegistryServer>();
    const facts = new Map<string, ServerFacts>();
    const listing = new Map<string, ServerFacts>();
    const toolFacts = new Map<string, Map<string, ToolFacts>>();
    const catalogue: Record<string, ServerFacts> = {};
    for (const s of sorted) {
      byId.set(s.id, s);
      const f = serverFactsOf(s);
      facts.set(s.id, f);
      const tools = new Map<string, ToolFacts>();
      for (const t of s.tools ?? []) tools.set(t.name, toolFactsOf(t));
      toolFacts.set(s.id, tools);
      const withTools = Object.freeze({ ...f, tools: Object.freeze(Object.fromEntries(tools)) });
      listing.set(s.id, withTools);
      catalogue[s.id] = withTools;
    }
    this.#byId = byId;
    this.#facts = facts;
    this.#listing = listing;
    this.#toolFacts = toolFacts;
    this.catalogue = Object.freeze({ available: true, servers: Object.freeze(catalogue) });
  }

  get servers(): readonly RegistryServer[] {
    return this.#servers;
  }

  server(id: string): RegistryServer | undefined {
    return this.#byId.get(keyOf(id));
  }

  serverFacts(id: string): ServerFacts {
    return this.#facts.get(keyOf(id)) ?? UNLISTED;
  }

  listingFacts(id: string): ServerFacts {
    return this.#listing.get(keyOf(id)) ?? UNLISTED;
  }

  toolFacts(serverId: string, tool: string): ToolFacts {
    return this.#toolFacts.get(keyOf(serverId))?.get(tool) ?? TOOL_UNLISTED;
  }
}

/**
 * A RegistryView over whatever snapshot `current()` returns: the registry
 * client swaps snapshots, readers always see one whole snapshot.
 * `localServerId` → `localPath` maps the protected server's SARK id onto its
 * registry path when they differ (gatewayServerPath).
 */
export class SnapshotView implements RegistryView {
  readonly #current: () => RegistrySnapshot | undefined;
  readonly #alias: ReadonlyMap<string, string>;

  constructor(current: () => RegistrySnapshot | undefined, alias?: { serverId: string; path: string }) {
    this.#current = current;
    this.#alias =
      alias && keyOf(alias.path) !== alias.serverId
        ? new Map([[alias.serverId, keyOf(alias.path)]])
        : new Map<string, string>();
  }

  #key(id: string): string {
    const k = keyOf(id);
    return this.#alias.get(k) ?? k;
  }

  servers(): readonly RegistryServer[] {
    return this.#current()?.servers ?? [];
  }

  server(id: string): RegistryServer | undefined {
    return this.#current()?.server(this.#key(id));
  }

  tools(serverId: string): readonly RegistryTool[] | undefined {
    return this.server(serverId)?.tools ?? undefined;
  }

  serverFacts(serverId: string): ServerFacts {
    return this.#current()?.serverFacts(this.#key(serverId)) ?? NOT_AVAILABLE;
  }

  listingFacts(serverId: string): ServerFacts {
    return this.#current()?.listingFacts(this.#key(serverId)) ?? NOT_AVAILABLE;
  }

  toolFacts(serverId: string, tool: string): ToolFacts {
    return this.#current()?.toolFacts(this.#key(serverId), tool) ?? TOOL_UNLISTED;
  }

  serverListFacts(): ServerListFacts {
    const snap = this.#current();
    if (!snap) return NO_SERVER_LIST;
    if (this.#alias.size === 0) return snap.catalogue;
    // The protected server is listed under its SARK id, as the policy names it.
    const servers: Record<string, ServerFacts> = { ...snap.catalogue.servers };
    for (const [serverId, key] of this.#alias) {
      const f = snap.catalogue.servers[key];
      if (f) {
        delete servers[key];
        servers[serverId] = f;
      }
    }
    return { available: true, servers };
  }
}
