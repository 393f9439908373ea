/**
 * The MCP Gateway Registry's answers (agentic-community/mcp-gateway-registry)
 * and how each becomes SARK's view of a server and its tools. Pure: no I/O.
 *
 * Three endpoints are read (docs/registry.md has the field-by-field table):
 *   GET /v0.1/servers?cursor=&limit=   the registry-standard list, cursor paged;
 *                                      only the paths (and the enabled flag) are taken
 *   GET /api/server_details/{path}     the full server record
 *   GET /api/servers/tools/{path}      the server's tools
 *
 * Fields SARK decides on are validated strictly: a visibility, group list,
 * tag list or metadata of the wrong type makes the record malformed (and the
 * last good record of that server keeps serving), never a silently dropped
 * restriction. Everything else is optional and unknown fields are ignored.
 */
import { z } from 'zod';

/** The namespace the registry gives its servers in the registry-standard API (`io.mcpgateway/<path>`). */
export const SERVER_NAMESPACE = 'io.mcpgateway';
const INTERNAL_META = `${SERVER_NAMESPACE}/internal`;

const strings = z.array(z.string());

/** One page of GET /v0.1/servers. */
export const serverListPage = z.object({
  servers: z.array(
    z.object({
      server: z.object({
        name: z.string().min(1),
        _meta: z.record(z.string(), z.unknown()).optional(),
      }),
    }),
  ),
  metadata: z.object({ nextCursor: z.string().min(1).nullish(), next_cursor: z.string().min(1).nullish() }).optional(),
});
export type ServerListPage = z.infer<typeof serverListPage>;

/** A server named in the list: its registry path, and the enabled flag the list carries. */
export interface ListedServer {
  readonly path: string;
  readonly enabled: boolean | undefined;
}

const internalMeta = z.object({ path: z.string().min(1).optional(), is_enabled: z.boolean().optional() });

/**
 * The servers of one list page. The path comes from the entry's
 * `_meta["io.mcpgateway/internal"].path`, else from its name
 * (`io.mcpgateway/<path>`); entries of another namespace with no path are
 * skipped (`skipped` counts them).
 */
export function listedServers(page: ServerListPage): { servers: ListedServer[]; skipped: number } {
  const servers: ListedServer[] = [];
  let skipped = 0;
  for (const { server } of page.servers) {
    const meta = internalMeta.safeParse(server._meta?.[INTERNAL_META] ?? {});
    const internal = meta.success ? meta.data : {};
    const path =
      internal.path ??
      (server.name.startsWith(`${SERVER_NAMESPACE}/`) ? `/${server.name.slice(SERVER_NAMESPACE.length + 1)}` : '');
    if (serverIdOf(path) === '') {
      skipped++;
      continue;
    }
    servers.push({ path, enabled: internal.is_enabled });
  }
  return { servers, skipped };
}

/** The cursor of the next page, or undefined on the last one. */
export function nextCursor(page: ServerListPage): string | undefined {
  return page.metadata?.nextCursor ?? page.metadata?.next_cursor ?? undefined;
}

/**
 * The SARK server id of a registry path: the path without its leading and
 * trailing slashes (`/fininfo/` → `fininfo`), as the registry itself names
 * servers in scopes ("technical name").
 */
export function serverIdOf(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

/** GET /api/server_details/{path}: the server record (fields SARK reads; others ignored). */
export const serverRecord = z.object({
  path: z.string().min(1),
  server_name: z.string().nullish(),
  description: z.string().nullish(),
  tags: strings.nullish(),
  status: z.string().nullish(),
  visibility: z.string().nullish(),
  allowed_groups: strings.nullish(),
  registered_by: z.string().nullish(),
  is_enabled: z.boolean().nullish(),
  health_status: z.string().nullish(),
  num_tools: z.number().nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});
export type ServerRecord = z.infer<typeof serverRecord>;

/** One tool of GET /api/servers/tools/{path} (MCP tool definition, with what the registry adds). */
const toolRecord = z.object({
  name: z.string().min(1),
  description: z.string().nullish(),
  tags: strings.nullish(),
  sensitivity: z.string().nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});
export type ToolRecord = z.infer<typeof toolRecord>;

export const toolsAnswer = z.object({ tools: z.array(toolRecord) });

/** A tool as SARK keeps it. */
export interface RegistryTool {
  readonly name: string;
  readonly description: string | null;
  /** Sensitivity labels as the registry gives them, lower-cased (the policy maps them to levels). */
  readonly sensitivity: readonly string[];
  readonly tags: readonly string[];
}

/** A server as SARK keeps it. */
export interface RegistryServer {
  /** SARK's server id (serverIdOf(path)). */
  readonly id: string;
  readonly path: string;
  readonly name: string;
  readonly description: string | null;
  /** metadata.owner, else metadata.team, else registered_by. */
  readonly owner: string | null;
  /** metadata.team. */
  readonly ownerTeam: string | null;
  readonly registeredBy: string | null;
  readonly sensitivity: readonly string[];
  readonly tags: readonly string[];
  /** public | private | group-restricted | …, lower-cased; null when the record could not be read. */
  readonly visibility: string | null;
  readonly allowedGroups: readonly string[];
  readonly enabled: boolean | null;
  /** The registry's `status`: active | deprecated | draft | beta. */
  readonly lifecycle: string | null;
  readonly health: string | null;
  /** The tools, or null when the registry could not list them. */
  readonly tools: readonly RegistryTool[] | null;
}

const SENSITIVITY_KEYS = ['sensitivity', 'data_classification', 'classification'] as const;
const SENSITIVITY_TAG = /^(?:sensitivity|classification|data[-_]classification)[:=](.+)$/i;

/**
 * The sensitivity labels of a record: `metadata.sensitivity`,
 * `metadata.data_classification`, `metadata.classification` (and the
 * record's own `sensitivity`, for tools), then every tag of the form
 * `sensitivity:<label>`, `classification:<label>` or
 * `data-classification:<label>`. All of them, lower-cased and deduplicated:
 * the policy takes the highest, so two sources that disagree raise, never lower.
 */
export function sensitivityLabels(
  metadata: Record<string, unknown> | null | undefined,
  tags: readonly string[],
  own?: string | null,
): string[] {
  const out = new Set<string>();
  const add = (v: unknown) => {
    if (typeof v === 'string' && v.trim() !== '') out.add(v.trim().toLowerCase());
  };
  add(own);
  for (const key of SENSITIVITY_KEYS) add(metadata?.[key]);
  for (const tag of tags) add(SENSITIVITY_TAG.exec(tag)?.[1]);
  return [...out];
}

function metaString(metadata: Record<string, unknown> | null | undefined, key: string): string | null {
  const v = metadata?.[key];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

export function toRegistryTool(t: ToolRecord): RegistryTool {
  const tags = t.tags ?? [];
  return {
    name: t.name,
    description: t.description ?? null,
    sensitivity: sensitivityLabels(t.metadata, tags, t.sensitivity),
    tags,
  };
}

/**
 * The server as SARK keeps it, from its record, the list entry's enabled
 * flag and its tools. A record without `visibility` is `public`: the
 * registry shows such servers to every caller its scopes admit.
 */
export function toRegistryServer(
  record: ServerRecord,
  listed: ListedServer,
  tools: readonly RegistryTool[] | null,
): RegistryServer {
  const metadata = record.metadata ?? null;
  const tags = record.tags ?? [];
  const registeredBy = record.registered_by ?? null;
  const ownerTeam = metaString(metadata, 'team');
  return {
    id: serverIdOf(listed.path),
    path: listed.path,
    name: record.server_name ?? serverIdOf(listed.path),
    description: record.description ?? null,
    owner: metaString(metadata, 'owner') ?? ownerTeam ?? registeredBy,
    ownerTeam,
    registeredBy,
    sensitivity: sensitivityLabels(metadata, tags),
    tags,
    visibility: (record.visibility ?? 'public').trim().toLowerCase(),
    allowedGroups: record.allowed_groups ?? [],
    enabled: record.is_enabled ?? listed.enabled ?? null,
    lifecycle: record.status ?? null,
    health: record.health_status ?? null,
    tools,
  };
}

/**
 * A server the list names but whose record could not be read and was never
 * read before: known to exist, with no visibility — the policy shows it to
 * nobody (an unknown visibility is not visible).
 */
export function unreadServer(listed: ListedServer, tools: readonly RegistryTool[] | null): RegistryServer {
  const id = serverIdOf(listed.path);
  return {
    id,
    path: listed.path,
    name: id,
    description: null,
    owner: null,
    ownerTeam: null,
    registeredBy: null,
    sensitivity: [],
    tags: [],
    visibility: null,
    allowedGroups: [],
    enabled: listed.enabled ?? null,
    lifecycle: null,
    health: null,
    tools,
  };
}
