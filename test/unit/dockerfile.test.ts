/**
 * No Docker engine runs here, so the image is checked statically, from the
 * Dockerfile as dockerfile-ast parses it (the parser behind the VS Code
 * Docker extension), the build context, .dockerignore and the lockfile:
 * what the final stage copies exists, is not ignored, and is what the runtime
 * loads; it runs as a non-root user that can write its audit destination;
 * and `npm ci --omit=dev` installs every package production code imports and
 * no package only tests, tools and the demo use.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, matchesGlob, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Copy, DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { imageNodeOptions } from '../../loadtest/parties.ts';
import { fields } from '../../src/config/schema.ts';
import { DEFAULT_POLICY_DIR } from '../../src/decide/wasm-engine.ts';
import { MIGRATIONS_DIR } from '../../src/record/migrations.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(text);

/** The instructions of each stage, split at its FROM. */
function stages(): { name: string | undefined; instructions: Instruction[] }[] {
  const out: { name: string | undefined; instructions: Instruction[] }[] = [];
  for (const i of dockerfile.getInstructions()) {
    if (i.getKeyword() === 'FROM') {
      const args = i.getArguments().map((a) => a.getValue());
      out.push({ name: args[1]?.toLowerCase() === 'as' ? args[2] : undefined, instructions: [] });
    }
    out.at(-1)?.instructions.push(i);
  }
  return out;
}
/** The stage a COPY takes from (`--from`), if any. */
function fromStage(c: Copy): string | undefined {
  return (
    c
      .getFlags()
      .find((f) => f.getName() === 'from')
      ?.getValue() ?? undefined
  );
}
const final = stages().at(-1)!;
const of = (keyword: string) => final.instructions.filter((i) => i.getKeyword() === keyword);
const copies = of('COPY') as Copy[];
/** COPY sources taken from the build context (not from another stage), and the destination each lands at. */
const fromContext = copies
  .filter((c) => fromStage(c) === undefined)
  .flatMap((c) => {
    const args = c.getArguments().map((a) => a.getValue());
    return args.slice(0, -1).map((source) => ({ source: posix.normalize(source), dest: args.at(-1)! }));
  });
const env = new Map(
  (of('ENV') as unknown as { getProperties(): { getName(): string; getValue(): string | null }[] }[]).flatMap((e) =>
    e.getProperties().map((p) => [p.getName(), p.getValue() ?? ''] as const),
  ),
);

function files(path: string): string[] {
  const full = join(ROOT, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full).flatMap((f) => files(join(path, f)));
}

/** .dockerignore as Docker reads it: a pattern excludes a path it matches or any path under one; `!` re-includes; last match wins. */
function ignored(path: string): boolean {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let out = false;
  for (const p of patterns) {
    const negated = p.startsWith('!');
    const pattern = posix.normalize(negated ? p.slice(1) : p).replace(/^\//, '');
    if (prefixes.some((prefix) => matchesGlob(prefix, pattern))) out = !negated;
  }
  return out;
}

describe('Dockerfile', () => {
  it('has no validation problems', () => {
    expect(validate(text)).toEqual([]);
  });

  it('runs Node 24 as a non-root user', () => {
    expect(text).toMatch(/^ARG NODE_VERSION=24\./m);
    const user = of('USER').at(-1)?.getArgumentsContent();
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(user).toBe('node');
  });

  it('copies from the build context only paths that exist and .dockerignore keeps', () => {
    for (const stage of stages()) {
      for (const c of stage.instructions.filter((i) => i.getKeyword() === 'COPY') as Copy[]) {
        const from = fromStage(c);
        if (from) {
          expect(stages().map((s) => s.name)).toContain(from);
          continue;
        }
        for (const source of c
          .getArguments()
          .slice(0, -1)
          .map((a) => posix.normalize(a.getValue()))) {
          expect(existsSync(join(ROOT, source)), `${source} exists`).toBe(true);
          for (const f of files(source)) expect(ignored(f), `${f} reaches the build`).toBe(false);
        }
      }
    }
  });

  it('gives the runtime what it loads: compiled code, dependencies, policy bundle, migrations', () => {
    const fromStages = copies.filter((c) => fromStage(c) !== undefined).map((c) => c.getArguments()[0]!.getValue());
    expect(fromStages).toEqual(expect.arrayContaining(['/app/node_modules', '/app/dist']));
    const sources = fromContext.map((c) => c.source);
    expect(sources).toEqual(
      expect.arrayContaining([
        'package.json',
        'bin',
        'opa/build',
        'deploy/clickhouse/migrations',
        // The injected init container runs it (docs/kubernetes.md).
        'deploy/iptables/sark-redirect.sh',
      ]),
    );
    // Where the code looks for them: beside the package, as in the checkout.
    expect(relative(ROOT, DEFAULT_POLICY_DIR)).toBe('opa/build');
    expect(relative(ROOT, MIGRATIONS_DIR)).toBe('deploy/clickhouse/migrations');
    expect(existsSync(join(ROOT, 'opa/build/policy.wasm'))).toBe(true);
    expect(
      readdirSync(join(ROOT, 'deploy/clickhouse/migrations')).filter((f) => f.endsWith('.sql')).length,
    ).toBeGreaterThan(0);
    for (const { source, dest } of fromContext) {
      // The redirect script is a command of the image (the init container runs `sark-redirect`).
      const where =
        source === 'package.json'
          ? '.'
          : source === 'deploy/iptables/sark-redirect.sh'
            ? '/usr/local/bin/sark-redirect'
            : source;
      expect(posix.normalize(dest).replace(/\/$/, '')).toBe(where);
    }
  });

  it('leaves the demo out of the build, and production code never imports it', () => {
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { exclude?: string[] };
    expect(build.exclude).toContain('src/demo');
    for (const f of files('src').filter((f) => !f.startsWith('src/demo/'))) {
      expect(readFileSync(join(ROOT, f), 'utf8'), f).not.toMatch(/from ['"][./]+demo\//);
    }
  });

  it('caps the young generation (memory per pod) with the options the load test runs SARK with', () => {
    expect(env.get('NODE_OPTIONS')).toBe('--max-semi-space-size=4');
    expect(imageNodeOptions()).toEqual(['--max-semi-space-size=4']);
  });

  it('sets audit destinations the non-root user can write', () => {
    const user = of('USER').at(-1)!.getArgumentsContent()!;
    const known = new Set(fields.map((f) => f.env));
    const runs = of('RUN').map((r) => r.getArgumentsContent() ?? '');
    const volumes = of('VOLUME').map((v) => v.getArgumentsContent() ?? '');
    for (const name of ['SARK_AUDIT_FILE', 'SARK_AUDIT_SPOOL_DIR']) {
      expect(known.has(name), `${name} is a configuration variable`).toBe(true);
      const path = env.get(name);
      expect(path, `${name} is set`).toMatch(/^\//);
      const dir = name === 'SARK_AUDIT_FILE' ? dirname(path!) : dirname(path!);
      // Created and handed to the user in the final stage…
      expect(
        runs.some(
          (r) => r.includes(`mkdir -p ${dir}`) && new RegExp(`chown (-R )?${user}(:${user})? ${dir}(\\s|$|&)`).test(r),
        ),
        `${dir} is created and owned by ${user}`,
      ).toBe(true);
      // …and declared a volume, so that the events outlive the container's writable layer.
      expect(volumes.some((v) => v.includes(dir))).toBe(true);
    }
  });
});

describe('production dependencies (npm ci --omit=dev, as the deps stage runs it)', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; version: string }>;
  };

  /** Packages a set of files import at run time (type-only imports are erased). */
  function imported(paths: string[]): Set<string> {
    const names = new Set<string>();
    const specifier = /(?:^|\n)\s*import\s+(?!type\s)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
    for (const f of paths.filter((p) => p.endsWith('.ts'))) {
      for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(specifier)) {
        const spec = m[1] ?? m[2]!;
        if (spec.startsWith('.') || spec.startsWith('node:') || spec.startsWith('/')) continue;
        const parts = spec.split('/');
        names.add(spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
      }
    }
    return names;
  }

  const production = files('src').filter((f) => !f.startsWith('src/demo/'));
  const elsewhere = [...files('src/demo'), ...files('test'), ...files('loadtest'), ...files('scripts')];
  const used = imported(production);
  const testOnly = new Set(
    [
      ...[...imported(elsewhere)].filter((n) => !used.has(n)),
      '@modelcontextprotocol/server',
      '@modelcontextprotocol/node',
      '@modelcontextprotocol/client',
      '@modelcontextprotocol/sdk',
    ].filter((n) => !used.has(n)),
  );

  it('every package production code imports is a production dependency', () => {
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) {
      expect(pkg.dependencies[name], `${name} in dependencies`).toBeDefined();
      expect(lock.packages[`node_modules/${name}`]?.dev, `${name} installed by --omit=dev`).toBeUndefined();
    }
  });

  it('no package only tests, tools and the demo use is installed', () => {
    expect(testOnly).toContain('@modelcontextprotocol/server');
    expect(testOnly).toContain('vitest');
    for (const name of testOnly) {
      expect(pkg.dependencies[name], `${name} not in dependencies`).toBeUndefined();
      expect(lock.packages[`node_modules/${name}`]?.dev, `${name} is dev-only in the lockfile`).toBe(true);
    }
  });

  it('the lockfile agrees with package.json', () => {
    const root = lock.packages[''] as unknown as { dependencies: object; devDependencies: object };
    expect(root.dependencies).toEqual(pkg.dependencies);
    expect(root.devDependencies).toEqual(pkg.devDependencies);
  });

  it('ships the interception script the injected init container runs, with iptables', () => {
    expect(text).toContain('/usr/local/bin/sark-redirect');
    expect(text).toMatch(/apt-get install -y --no-install-recommends iptables/);
  });
});
