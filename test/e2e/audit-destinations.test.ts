/**
 * `sark serve` writing its audit events where a container needs them: to
 * standard output (nothing else on it), and to a file that hits a full disk —
 * here a file size limit (`ulimit -f`, so no privilege is needed), which
 * answers writes past it with EFBIG as a full disk answers ENOSPC: the calls
 * are still served and the lost events are counted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rawPost } from '../support/sidecar.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 3,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'audited' } },
});

interface Serving {
  proc: ChildProcess;
  url: string;
  adminUrl: string;
  stdout: () => string;
  stderr: () => string;
}

let serving: Serving | undefined;
afterEach(() => {
  serving?.proc.kill('SIGTERM');
  serving = undefined;
});

/** Runs `sark serve` (through bash, to set a file size limit in KiB) and waits for its banner on `banner`. */
function serve(args: string[], cwd: string, fileSizeLimitKiB?: number, banner: 'stdout' | 'stderr' = 'stdout') {
  const argv = [
    MAIN,
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    '127.0.0.1:0',
    '--log-level',
    'warn',
    ...args,
  ];
  const proc =
    fileSizeLimitKiB === undefined
      ? spawn(process.execPath, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['-c', `ulimit -f ${fileSizeLimitKiB} && exec "$0" "$@"`, process.execPath, ...argv], {
          cwd,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise<Serving>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner:\n${out}\n${err}`)), 20_000);
    const check = () => {
      const text = banner === 'stdout' ? out : err;
      const endpoint = /MCP endpoint \(Streamable HTTP\): (\S+)/.exec(text);
      const admin = /admin: (\S+)\/healthz/.exec(text);
      if (endpoint && admin) {
        clearTimeout(timer);
        resolve({ proc, url: endpoint[1]!, adminUrl: admin[1]!, stdout: () => out, stderr: () => err });
      }
    };
    proc.stdout!.on('data', check);
    proc.stderr!.on('data', check);
    proc.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}\n${err}`)));
  });
}

async function droppedEvents(adminUrl: string, reason: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const m = new RegExp(`^sark_audit_events_dropped_total\\{sink="file",reason="${reason}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('audit destinations of sark serve', () => {
  it('writes audit events, and nothing else, to standard output', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'sark-e2e-stdout-'));
    serving = await serve(['--audit-stdout', 'true'], cwd, undefined, 'stderr');
    for (let i = 0; i < 3; i++) {
      const r = await rawPost(serving.url, CALL, { 'mcp-protocol-version': '2025-11-25' });
      expect(r.status).toBe(200);
    }
    const s = serving;
    await expect.poll(() => s.stdout().split('\n').filter(Boolean).length, { timeout: 5_000 }).toBe(3);
    for (const line of s.stdout().split('\n').filter(Boolean)) {
      expect(JSON.parse(line)).toMatchObject({ decision: 'allow', tool: 'echo', method: 'tools/call' });
    }
    // stdout took the place of the default file.
    expect(existsSync(join(cwd, 'sark-audit.ndjson'))).toBe(false);
  });

  it('serves every call while a full disk costs audit events, and counts them', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'sark-e2e-full-'));
    // 16 KiB of audit file: about 25 events.
    serving = await serve(['--audit-file', join(cwd, 'audit.ndjson'), '--audit-file-max-bytes', '0'], cwd, 16);
    for (let i = 0; i < 50; i++) {
      const r = await rawPost(serving.url, CALL, { 'mcp-protocol-version': '2025-11-25' });
      expect(r.status).toBe(200);
      expect(r.text).toContain('audited');
    }
    const s = serving;
    await expect.poll(() => droppedEvents(s.adminUrl, 'disk_full'), { timeout: 5_000 }).toBeGreaterThan(10);
    expect(s.stderr()).toMatch(/audit destination failed/);
  });
});
