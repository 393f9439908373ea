/**
 * deploy/compose/docker-compose.yml, checked statically (no Docker engine in
 * CI): it parses; every image is pinned or built from this repository; every
 * SARK_* variable is a setting the sidecar knows and the set passes its
 * configuration schema; URLs name services and ports of this file; bind
 * mounts exist in the repository; only SARK is published, on loopback.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../../src/config/load.ts';
import { fields } from '../../../src/config/schema.ts';
import { OPA_GOGC_DEFAULT } from '../../../src/inject/options.ts';

const FILE = new URL('../../../deploy/compose/docker-compose.yml', import.meta.url).pathname;
const DIR = dirname(FILE);
const compose = parse(readFileSync(FILE, 'utf8'));
const services: Record<string, any> = compose.services;
const known = new Set(fields.map((f) => f.env));
const LOCAL = new Set(['sark:local', 'sark-demo:local']);
const sarkServices = Object.entries(services).filter(([, s]) => LOCAL.has(s.image));

/** The port a service listens on: `expose`, or a --addr/--listen in its command. */
function listens(name: string): string[] {
  const s = services[name];
  const ports = (s.expose ?? []).map(String);
  for (const arg of s.command ?? []) {
    const m = /(?:--addr=|^)0\.0\.0\.0:(\d+)$/.exec(String(arg));
    if (m) ports.push(m[1]!);
  }
  if (s.environment?.SARK_LISTEN) ports.push(s.environment.SARK_LISTEN.split(':').at(-1));
  return ports;
}

describe('deploy/compose/docker-compose.yml', () => {
  it('has SARK, OPA, Redis, ClickHouse and an example MCP server', () => {
    expect(Object.keys(services).sort()).toEqual(['clickhouse', 'mcp-server', 'opa', 'redis', 'sark', 'sark-migrate']);
  });

  it('runs OPA with the GOGC the injection webhook gives it', () => {
    expect(services.opa.environment?.GOGC).toBe(String(OPA_GOGC_DEFAULT));
  });

  it('pins every image, or builds it from this repository', () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.build) {
        const context = resolve(DIR, s.build.context);
        expect(existsSync(resolve(context, s.build.dockerfile ?? 'Dockerfile')), name).toBe(true);
        expect(existsSync(resolve(context, 'package.json')), name).toBe(true);
      } else if (!LOCAL.has(s.image)) {
        expect(s.image, name).toMatch(/^[a-z0-9./-]+:[0-9][\w.-]*$/);
      }
    }
    // Each local image is built by one service (the demo from the Dockerfile's demo target) and used by the others.
    const built = Object.values(services).filter((s) => s.build);
    expect(built.map((s) => s.image).sort()).toEqual(['sark-demo:local', 'sark:local']);
    const dockerfile = readFileSync(resolve(DIR, '../../Dockerfile'), 'utf8');
    for (const s of built) {
      if (s.build.target) expect(dockerfile).toMatch(new RegExp(`^FROM \\S+ AS ${s.build.target}$`, 'm'));
    }
  });

  it('gives SARK only settings its schema knows, with values it accepts', () => {
    for (const [name, s] of sarkServices) {
      const env: Record<string, string> = s.environment ?? {};
      for (const key of Object.keys(env)) expect(known.has(key), `${name}: ${key}`).toBe(true);
      expect(() =>
        loadConfig({ env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])) }),
      ).not.toThrow();
    }
  });

  it('points every URL at a service of this file, on a port it listens on', () => {
    for (const [name, s] of sarkServices) {
      for (const [key, value] of Object.entries<string>(s.environment ?? {})) {
        if (!/_URL$/.test(key)) continue;
        const url = new URL(value);
        expect(Object.keys(services), `${name}: ${key}`).toContain(url.hostname);
        expect(listens(url.hostname), `${name}: ${key}`).toContain(url.port);
      }
    }
  });

  it('runs the commands the sark CLI has', () => {
    const commands = new Set(sarkServices.map(([, s]) => s.command[0]));
    expect([...commands].sort()).toEqual(['demo-server', 'migrate', 'serve']);
    const main = readFileSync(new URL('../../../src/cli/main.ts', import.meta.url), 'utf8');
    for (const c of commands) expect(main).toContain(`command === '${c}'`);
  });

  it('mounts only paths that exist in the repository, read-only', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const [source, , mode] = String(v).split(':');
        if (!source!.startsWith('.')) {
          expect(Object.keys(compose.volumes ?? {}), name).toContain(source);
          continue;
        }
        expect(existsSync(resolve(DIR, source!)), `${name}: ${source}`).toBe(true);
        expect(mode, `${name}: ${source}`).toBe('ro');
      }
    }
  });

  it('publishes only SARK, on loopback; the MCP server is reachable only through it', () => {
    for (const [name, s] of Object.entries(services)) {
      if (name === 'sark') {
        for (const p of s.ports) expect(p).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
      } else {
        expect(s.ports, name).toBeUndefined();
      }
    }
  });

  it('starts SARK after its dependencies, which all exist', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Object.keys(s.depends_on ?? {}))
        expect(Object.keys(services), `${name} -> ${dep}`).toContain(dep);
    }
    expect(Object.keys(services.sark.depends_on).sort()).toEqual(['mcp-server', 'opa', 'redis', 'sark-migrate']);
  });
});
