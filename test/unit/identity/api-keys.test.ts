/**
 * API keys on a real file system: hashed storage, the three sources, and
 * reloading without a restart (fs.watch, the stat fallback, a Kubernetes
 * Secret volume's ..data symlink swap), keeping the last good set on a bad
 * reload.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import { ApiKeyStore, loadApiKeys } from '../../../src/identity/api-keys.ts';
import { waitFor } from '../../support/services.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const stores: ApiKeyStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

function fresh(): string {
  return mkdtempSync(join(tmpdir(), 'sark-keys-'));
}

describe('API key store', () => {
  it('holds digests only and finds keys from a file, inline JSON and a directory', () => {
    const dir = fresh();
    const file = join(dir, 'keys.json');
    writeFileSync(
      file,
      JSON.stringify([{ key: 'plain-key-0123456789', agentId: 'a1', roles: ['developer'], teams: ['t1', 't2'] }]),
    );
    const secretDir = join(dir, 'secret');
    mkdirSync(secretDir);
    writeFileSync(
      join(secretDir, 'planner.json'),
      JSON.stringify({ sha256: sha('dir-key-0123456789ab'), type: 'service' }),
    );
    writeFileSync(join(secretDir, '.hidden'), 'not json');
    const inline = JSON.stringify([{ sha256: sha('inline-key-01234567'), agentId: 'a3' }]);
    const keys = loadApiKeys({ file, inline, dir: secretDir });
    expect(keys.size).toBe(3);
    // Nothing but digests and identities is kept.
    expect(JSON.stringify([...keys.values()])).not.toContain('plain-key');
    const store = new ApiKeyStore({ file, inline, dir: secretDir, reloadIntervalMs: 0 });
    stores.push(store);
    expect(store.lookup('plain-key-0123456789')).toMatchObject({
      id: 'a1',
      team: 't1',
      teams: ['t1', 't2'],
      authMethod: 'api_key',
      scopes: [],
    });
    expect(store.lookup('dir-key-0123456789ab')).toMatchObject({ id: 'planner', type: 'service' });
    expect(store.lookup('inline-key-01234567')?.id).toBe('a3');
    expect(store.lookup('plain-key-012345678')).toBeUndefined();
    expect(store.lookup('')).toBeUndefined();
  });

  it('refuses bad entries and duplicate keys at start-up, naming them', () => {
    const dir = fresh();
    const file = join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify([{ key: 'short', agentId: 'x' }]));
    expect(() => loadApiKeys({ file })).toThrow(/\[0\.key\]/);
    writeFileSync(
      file,
      JSON.stringify([
        { key: 'same-key-0123456789', agentId: 'x' },
        { sha256: sha('same-key-0123456789'), agentId: 'y' },
      ]),
    );
    expect(() => loadApiKeys({ file })).toThrow(/given twice/);
    expect(() => loadApiKeys({ inline: '[{' })).toThrow(ConfigError);
    expect(() => loadApiKeys({ file: join(dir, 'missing.json') })).toThrow(/cannot read/);
  });

  it('reloads a replaced file without a restart, and keeps the last good set on a bad one', async () => {
    const dir = fresh();
    const file = join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify([{ key: 'first-key-0123456789', agentId: 'one' }]));
    const store = new ApiKeyStore({ file, reloadIntervalMs: 100 });
    stores.push(store);
    expect(store.lookup('first-key-0123456789')?.id).toBe('one');

    // Editors and config management replace files by rename.
    writeFileSync(join(dir, 'next.tmp'), JSON.stringify([{ key: 'second-key-012345678', agentId: 'two' }]));
    renameSync(join(dir, 'next.tmp'), file);
    await waitFor('reload', async () => store.lookup('second-key-012345678')?.id === 'two', 5_000);
    expect(store.lookup('first-key-0123456789')).toBeUndefined();

    const reloads = store.reloads;
    writeFileSync(file, '[{"key": "broken');
    // Give the watcher and two stat periods their chance; the good set stays.
    await new Promise((r) => setTimeout(r, 400));
    expect(store.reloads).toBe(reloads);
    expect(store.lookup('second-key-012345678')?.id).toBe('two');

    writeFileSync(file, JSON.stringify([{ key: 'third-key-0123456789', agentId: 'three' }]));
    await waitFor('reload after repair', async () => store.lookup('third-key-0123456789')?.id === 'three', 5_000);
  });

  it('follows a Kubernetes Secret volume: the ..data symlink swapped to a new timestamped directory', async () => {
    const dir = fresh();
    const v1 = join(dir, '..2026_01_01_00_00_00.000000001');
    mkdirSync(v1);
    writeFileSync(join(v1, 'agent-a.json'), JSON.stringify({ key: 'secret-a-0123456789' }));
    symlinkSync(v1, join(dir, '..data'));
    symlinkSync(join('..data', 'agent-a.json'), join(dir, 'agent-a.json'));
    // Only stat polling here, as on a file system without inotify.
    const store = new ApiKeyStore({ dir, reloadIntervalMs: 100 });
    stores.push(store);
    expect(store.lookup('secret-a-0123456789')?.id).toBe('agent-a');

    const v2 = join(dir, '..2026_01_02_00_00_00.000000002');
    mkdirSync(v2);
    writeFileSync(join(v2, 'agent-a.json'), JSON.stringify({ key: 'rotated-a-012345678' }));
    symlinkSync(v2, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(v1, { recursive: true });
    await waitFor('secret rotation', async () => store.lookup('rotated-a-012345678')?.id === 'agent-a', 5_000);
    expect(store.lookup('secret-a-0123456789')).toBeUndefined();
  });
});
