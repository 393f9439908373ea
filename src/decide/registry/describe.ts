/**
 * What the decision API's listings (/api/v1/gateway/servers, /tools) add to
 * each server and tool the policy lets the caller see: the registry's
 * descriptive fields. Only descriptions: the policy decided what is listed;
 * nothing here widens it, and backend addresses and the registry's access
 * rules (allowed_groups, registered_by) are not shown.
 */
import type { RegistryView } from './view.ts';

/** The shape DecisionPort takes (src/pipeline/decision-port.ts, CatalogueFacts). */
export interface ListingDescriptions {
  server(id: string): Record<string, unknown> | undefined;
  tool(serverId: string, name: string): Record<string, unknown> | undefined;
}

export function registryDescriptions(view: RegistryView): ListingDescriptions {
  return {
    server(id) {
      const s = view.server(id);
      if (!s) return undefined;
      return {
        name: s.name,
        description: s.description,
        tags: s.tags,
        owner: s.owner,
        lifecycle: s.lifecycle,
        health: s.health,
        registry_path: s.path,
      };
    },
    tool(serverId, name) {
      const t = view.tools(serverId)?.find((x) => x.name === name);
      return t ? { description: t.description, tags: t.tags } : undefined;
    },
  };
}
