/**
 * The `sark` command as a user runs it: help, a bad configuration, and the
 * README's first command (serve on embedded defaults, no external service)
 * driven by the official MCP SDK client.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fields } from '../../src/config/schema.ts';
import { connectV1Client } from '../support/sidecar.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const BIN = new URL('../../bin/sark.js', import.meta.url).pathname;

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
    timeout: 20_000,
  });
}

describe('sark CLI', () => {
  it('--help lists every flag and its SARK_* variable', () => {
    const out = run(['--help']);
    expect(out.status).toBe(0);
    for (const f of fields) {
      expect(out.stdout).toContain(`--${f.flag}`);
      expect(out.stdout).toContain(f.env);
    }
  });

  it('bin/sark.js runs the CLI', () => {
    const out = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    [['serve', '--opa-timeout-ms', 'soon'], {}, /opaTimeoutMs \(--opa-timeout-ms\) = "soon": .*integer/],
    [['serve', '--listen', 'localhost'], {}, /listen \(--listen\) = "localhost": expected host:port/],
    [['serve'], { SARK_UPSTREAM_URL: 'ftp://x' }, /upstreamUrl \(SARK_UPSTREAM_URL\) = "ftp:\/\/x": expected an http/],
    [['serve', '--no-such-flag', 'x'], {}, /Unknown option '--no-such-flag'/],
    [
      ['serve', '--api-keys-file', '/nonexistent/keys.json'],
      {},
      /apiKeysFile \(\/nonexistent\/keys.json\): cannot read/,
    ],
    [
      ['serve', '--audit-file', '/nonexistent/audit.ndjson'],
      {},
      /auditFile \(\/nonexistent\/audit.ndjson\): cannot be written: ENOENT/,
    ],
  ])('refuses a bad configuration at start-up: %j %j', (args, env, message) => {
    const out = run(args, env);
    expect(out.status).toBe(78);
    expect(out.stderr).toMatch(message);
  });

  it('inject --help lists every webhook flag and its SARK_INJECT_* variable', async () => {
    const { injectFields } = await import('../../src/inject/options.ts');
    const out = run(['inject', '--help']);
    expect(out.status).toBe(0);
    for (const f of injectFields) {
      expect(out.stdout).toContain(`--${f.flag}`);
      expect(out.stdout).toContain(f.env);
    }
  });

  it('inject refuses to start without its TLS pair, image and bundle service, naming them', () => {
    const out = run(['inject']);
    expect(out.status).toBe(78);
    for (const key of ['tlsCertFile', 'tlsKeyFile', 'sidecarImage', 'opaBundleUrl']) expect(out.stderr).toContain(key);
  });

  describe('serve on embedded defaults', () => {
    let proc: ChildProcess | undefined;
    afterAll(() => {
      proc?.kill('SIGTERM');
    });

    it('starts the demo server with the bundled policy and enforces it', async () => {
      proc = spawn(
        process.execPath,
        [MAIN, 'serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--log-level', 'warn'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          // The embedded default writes ./sark-audit.ndjson: keep it out of the repo.
          cwd: mkdtempSync(join(tmpdir(), 'sark-e2e-')),
        },
      );
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no endpoint printed:\n${out}`)), 20_000);
        proc!.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /MCP endpoint \(Streamable HTTP\): (\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        proc!.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
      });
      expect(out).toContain('policy engine: wasm');
      expect(out).toMatch(/Connect an MCP client/);
      const client = await connectV1Client(url);
      try {
        const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
        expect((result.content as { text: string }[])[0]!.text).toBe('5');
        await expect(client.callTool({ name: 'delete_file', arguments: { path: '/tmp/x' } })).rejects.toMatchObject({
          code: -32002,
        });
      } finally {
        await client.close();
      }
      const exited = new Promise<number | null>((r) => proc!.once('exit', (code) => r(code)));
      proc!.kill('SIGTERM');
      expect(await exited).toBe(0);
      proc = undefined;
    });
  });
});
