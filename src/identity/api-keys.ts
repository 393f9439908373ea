/**
 * API keys. Only SHA-256 digests are held: a key given in plain text is
 * hashed at load and the text dropped. A presented key is hashed and looked
 * up by its digest: the only comparison is of digests, whose timing says
 * nothing usable about a key (finding one from a digest prefix is a preimage
 * search), so no constant-time comparison is needed after the look-up.
 *
 * Keys come from any of: a JSON file (an array of entries), the `apiKeys`
 * setting (the same array inline, e.g. from SARK_API_KEYS), and a directory
 * holding one JSON entry per file — a mounted Kubernetes Secret, where the
 * agent id defaults to the file name. Files and directory are reloaded when
 * they change, without a restart: fs.watch reacts at once, and a periodic
 * stat comparison catches what watch misses (network file systems, the
 * `..data` symlink swap of Secret volumes). A reload that fails keeps the last
 * good set and logs a warning; at start-up the same failure stops SARK.
 */
import { hash } from 'node:crypto';
import { type FSWatcher, readdirSync, readFileSync, statSync, watch } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { type Actor, type Identity, none } from './identity.ts';

const entrySchema = z
  .object({
    key: z.string().min(16, 'an API key must have at least 16 characters').optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits')
      .optional(),
    agentId: z.string().min(1),
    type: z.enum(['agent', 'user', 'service']).default('agent'),
    roles: z.array(z.string().min(1)).default([]),
    tenant: z.string().optional(),
    team: z.string().optional(),
    teams: z.array(z.string().min(1)).optional(),
    trustLevel: z.string().optional(),
    environment: z.string().optional(),
  })
  .strict()
  .refine((e) => (e.key === undefined) !== (e.sha256 === undefined), 'give exactly one of "key" or "sha256"');

type Entry = z.output<typeof entrySchema>;

export interface ApiKeyOptions {
  /** JSON file: an array of entries. */
  readonly file?: string | undefined;
  /** The same array, inline (the apiKeys setting). */
  readonly inline?: string | undefined;
  /** Directory of one JSON entry per file (a mounted Kubernetes Secret). */
  readonly dir?: string | undefined;
  /** How often files are compared by stat, in ms; 0: never (fs.watch only). */
  readonly reloadIntervalMs: number;
  readonly logger?: Logger | undefined;
}

function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

function identityOf(e: Entry): Identity {
  const teams = e.teams ?? (e.team === undefined ? [] : [e.team]);
  return Object.freeze({
    id: e.agentId,
    type: e.type,
    authenticated: true,
    authMethod: 'api_key',
    roles: Object.freeze([...e.roles]),
    team: e.team ?? teams[0],
    teams: Object.freeze(teams),
    tenant: e.tenant,
    trustLevel: e.trustLevel,
    environment: e.environment,
    scopes: none<string>(),
    delegation: none<Actor>(),
  });
}

function parseEntries(where: string, raw: unknown, many: boolean): Entry[] {
  const parsed = (many ? z.array(entrySchema) : entrySchema).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${where} at [${issue.path.join('.')}]: ${issue.message}`);
  }
  return many ? (parsed.data as Entry[]) : [parsed.data as Entry];
}

function readJson(where: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${where}: not JSON: ${(err as Error).message}`);
  }
}

function readText(where: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${where}: cannot read: ${(err as Error).message}`);
  }
}

/** The entry files of a Secret-style directory: regular files (symlinks followed), dot-names skipped. */
function dirEntries(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new ConfigError(`apiKeysDir (${dir}): cannot list: ${(err as Error).message}`);
  }
  return names.filter((n) => !n.startsWith('.') && statSync(join(dir, n), { throwIfNoEntry: false })?.isFile()).sort();
}

/** Reads every source into one digest → identity map; throws a ConfigError naming the bad entry. */
export function loadApiKeys(options: Pick<ApiKeyOptions, 'file' | 'inline' | 'dir'>): Map<string, Identity> {
  const entries: [string, Entry][] = [];
  if (options.file) {
    const where = `apiKeysFile (${options.file})`;
    for (const e of parseEntries(where, readJson(where, readText(where, options.file)), true)) entries.push([where, e]);
  }
  if (options.inline) {
    for (const e of parseEntries('apiKeys', readJson('apiKeys', options.inline), true)) entries.push(['apiKeys', e]);
  }
  if (options.dir) {
    for (const name of dirEntries(options.dir)) {
      const where = `apiKeysDir (${join(options.dir, name)})`;
      const raw = readJson(where, readText(where, join(options.dir, name)));
      const withId =
        raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !('agentId' in raw)
          ? { ...raw, agentId: basename(name, extname(name)) }
          : raw;
      for (const e of parseEntries(where, withId, false)) entries.push([where, e]);
    }
  }
  const keys = new Map<string, Identity>();
  for (const [where, e] of entries) {
    // The schema admits lower-case hex only, which is what lookup() computes.
    const hex = e.sha256 ?? sha256Hex(e.key!);
    if (keys.has(hex)) throw new ConfigError(`${where}: the key of agent "${e.agentId}" is given twice`);
    keys.set(hex, identityOf(e));
  }
  return keys;
}

/** What changes when a watched file or directory changes: names, sizes, mtimes, inodes. */
function signature(options: Pick<ApiKeyOptions, 'file' | 'dir'>): string {
  const parts: string[] = [];
  const add = (p: string) => {
    const s = statSync(p, { throwIfNoEntry: false });
    parts.push(s ? `${p}:${s.ino}:${s.size}:${s.mtimeMs}` : `${p}:-`);
  };
  if (options.file) add(options.file);
  if (options.dir) {
    try {
      for (const n of readdirSync(options.dir)) if (!n.startsWith('.')) add(join(options.dir, n));
    } catch {
      parts.push(`${options.dir}:-`);
    }
  }
  return parts.join('|');
}

export class ApiKeyStore {
  #keys: Map<string, Identity>;
  readonly #options: ApiKeyOptions;
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #signature = '';
  /** Successful reloads since start (tests wait on it). */
  reloads = 0;

  /** Loads every source; throws a ConfigError at start-up. */
  constructor(options: ApiKeyOptions) {
    this.#options = options;
    this.#signature = signature(options);
    this.#keys = loadApiKeys(options);
    if (options.file || options.dir) this.#watch();
  }

  get size(): number {
    return this.#keys.size;
  }

  /** The identity of a presented key, or undefined: one SHA-256 and one map look-up. */
  lookup(presented: string): Identity | undefined {
    return this.#keys.get(sha256Hex(presented));
  }

  /** Re-reads the sources when they changed; a failure keeps the last good set. */
  reload(): void {
    const now = signature(this.#options);
    if (now === this.#signature) return;
    try {
      this.#keys = loadApiKeys(this.#options);
      this.#signature = now;
      this.reloads++;
      this.#options.logger?.info({ keys: this.#keys.size }, 'API keys reloaded');
    } catch (err) {
      // Remember the bad state so the same broken file is not re-read and re-logged every tick.
      this.#signature = now;
      this.#options.logger?.warn(
        { detail: (err as Error).message, keys: this.#keys.size },
        'API keys not reloaded: keeping the last good set',
      );
    }
  }

  #watch(): void {
    const schedule = () => {
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => this.reload(), 50);
      this.#debounce.unref();
    };
    // Directories, not files: editors and Secret volumes replace files by rename,
    // which ends a watch on the old inode.
    const dirs = new Set<string>();
    if (this.#options.file) dirs.add(dirname(this.#options.file));
    if (this.#options.dir) dirs.add(this.#options.dir);
    for (const d of dirs) {
      try {
        const w = watch(d, { persistent: false }, schedule);
        w.on('error', () => w.close());
        this.#watchers.push(w);
      } catch {
        // No inotify here: the periodic comparison still reloads.
      }
    }
    if (this.#options.reloadIntervalMs > 0) {
      this.#timer = setInterval(() => this.reload(), this.#options.reloadIntervalMs);
      this.#timer.unref();
    }
  }

  close(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
    for (const w of this.#watchers) w.close();
  }
}
