/**
 * The log level of a running `sark serve`, changed the two ways an operator
 * would: SIGUSR2 to the process, and PUT /loglevel on the admin listener.
 * The process's own stderr shows the change and what the new level lets
 * through.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../support/audit-events.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

describe('log level at run time (sark serve)', () => {
  let proc: ChildProcess | undefined;
  afterAll(() => {
    proc?.kill('SIGTERM');
  });

  it('SIGUSR2 toggles debug and back; PUT /loglevel sets a level; the change is logged', async () => {
    proc = spawn(
      process.execPath,
      [MAIN, 'serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: mkdtempSync(join(tmpdir(), 'sark-e2e-')) },
    );
    let out = '';
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const admin = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no admin URL printed:\n${out}`)), 20_000);
      proc!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /admin: (http:\/\/\S+)\/healthz/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const level = async () => ((await (await fetch(`${admin}/loglevel`)).json()) as { level: string }).level;
    expect(await level()).toBe('warn');

    proc.kill('SIGUSR2');
    await until('debug after SIGUSR2', async () => (await level()) === 'debug', 10_000);
    await until('the change is logged', () => /"msg":"log level changed"/.test(err), 10_000);
    const line = JSON.parse(err.split('\n').find((l) => l.includes('log level changed'))!) as Record<string, unknown>;
    expect(line).toMatchObject({ from: 'warn', to: 'debug' });

    proc.kill('SIGUSR2');
    await until('back to the configured level', async () => (await level()) === 'warn', 10_000);

    const res = await fetch(`${admin}/loglevel`, { method: 'PUT', body: '{"level":"error"}' });
    expect(res.status).toBe(200);
    expect(await level()).toBe('error');

    const exited = new Promise<number | null>((r) => proc!.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    proc = undefined;
  });
});
