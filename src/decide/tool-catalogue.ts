/**
 * The tools the policy knows for this server, read from the policy's data
 * (`<path>/<serverId>`, by default data.sark.tools.<serverId>: an object whose
 * keys are tool names). Those names, with the configured ones, are the only
 * values the `tool` metric label may take (observe/labels.ts ToolLabels):
 * the catalogue is written by whoever owns the policy, not by clients.
 *
 * Read at start-up and then every minute (the catalogue changes with bundle
 * or data updates, rarely); a failed read keeps the last set.
 */

import type { ToolLabels } from '../observe/labels.ts';
import type { Logger } from '../observe/logger.ts';
import type { PolicyEngine } from './engine.ts';

const REFRESH_MS = 60_000;

export interface ToolCatalogue {
  refresh(): Promise<void>;
  close(): void;
}

export function followToolCatalogue(
  engine: Pick<PolicyEngine, 'data'>,
  path: string,
  serverId: string,
  labels: ToolLabels,
  logger: Logger,
): ToolCatalogue {
  if (!path || !engine.data) return { refresh: async () => {}, close() {} };
  const read = engine.data.bind(engine);
  const docPath = `${path}/${serverId}`;
  let last = '';
  async function refresh(): Promise<void> {
    const doc = await read(docPath).catch(() => undefined);
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return;
    const names = Object.keys(doc).sort();
    const key = names.join('\n');
    if (key === last) return;
    last = key;
    labels.setCatalogue(names);
    logger.debug({ path: docPath, tools: names.length, labelled: labels.size }, 'tool catalogue for metric labels');
  }
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    refresh().finally(() => {
      busy = false;
    });
  }, REFRESH_MS);
  timer.unref();
  return { refresh, close: () => clearInterval(timer) };
}
